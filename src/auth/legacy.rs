//! The legacy access_token scheme, "trusted SP simple authorization" (spec §3.2).
//!
//! Owns the token store: one active pair per app, with expiry on the simulated clock, and the time
//! of each app's last successful login. Implements [`Auth::fastlogin`], [`Auth::refresh`],
//! [`Auth::logout`] and the token path of [`Auth::authenticate`]. Tokens come from
//! [`IdGen::token`] and are compared in constant time; they are never logged.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::header::AUTHORIZATION;
use serde::Serialize;

use super::{secret_eq, Auth, Params, RequestMeta};
use crate::clock::SimInstant;
use crate::config::LegacyAuthConfig;
use crate::error::{ApiError, HeaderFault};
use crate::ids::IdGen;

/// A login or refresh response. It has no `resultcode`: legacy clients treat a non-empty one as an
/// error (spec §3.2).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// `auth.legacy.token_ttl_s` as a JSON string, e.g. `"172800"`.
    pub expires_in: String,
}

/// Per app: the active pair and the last successful login.
#[derive(Default)]
pub(super) struct TokenStore {
    apps: HashMap<String, AppTokens>,
}

#[derive(Default)]
struct AppTokens {
    pair: Option<ActivePair>,
    last_login: Option<SimInstant>,
}

struct ActivePair {
    access: String,
    access_until: SimInstant,
    refresh: String,
    refresh_until: SimInstant,
}

/// Why a pair is issued: only logins are rate-limited (spec §3.2, "Login rate").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Issue {
    Login,
    Refresh,
}

impl TokenStore {
    fn login_too_soon(&self, app_key: &str, now: SimInstant, interval_s: u64) -> bool {
        self.apps
            .get(app_key)
            .and_then(|a| a.last_login)
            .is_some_and(|last| now.since(last) < interval_s.saturating_mul(1000))
    }

    /// Issues a new pair, replacing (and so invalidating) the app's previous access and refresh
    /// tokens: one active pair per app.
    fn issue(
        &mut self,
        app_key: &str,
        now: SimInstant,
        ids: &IdGen,
        cfg: &LegacyAuthConfig,
        why: Issue,
    ) -> TokenPair {
        let entry = self.apps.entry(app_key.to_owned()).or_default();
        let pair = ActivePair {
            access: ids.token(),
            access_until: now.plus_s(cfg.token_ttl_s),
            refresh: ids.token(),
            refresh_until: now.plus_s(cfg.refresh_ttl_s),
        };
        let out = TokenPair {
            access_token: pair.access.clone(),
            refresh_token: pair.refresh.clone(),
            expires_in: cfg.token_ttl_s.to_string(),
        };
        entry.pair = Some(pair);
        if why == Issue::Login {
            entry.last_login = Some(now);
        }
        out
    }

    /// Apps with an entry: only configured apps get one (a login is checked first).
    #[cfg(test)]
    pub(super) fn apps_held(&self) -> usize {
        self.apps.len()
    }

    fn pair(&self, app_key: &str) -> Option<&ActivePair> {
        self.apps.get(app_key).and_then(|a| a.pair.as_ref())
    }

    /// Whether `token` is the app's current, unexpired access token. Another app's token, a
    /// superseded or logged-out one never matches: only the current pair is kept.
    fn access_valid(&self, app_key: &str, token: &str, now: SimInstant) -> bool {
        self.pair(app_key).is_some_and(|p| {
            secret_eq(p.access.as_bytes(), token.as_bytes()) && now < p.access_until
        })
    }

    fn refresh_valid(&self, app_key: &str, token: &str, now: SimInstant) -> bool {
        self.pair(app_key).is_some_and(|p| {
            secret_eq(p.refresh.as_bytes(), token.as_bytes()) && now < p.refresh_until
        })
    }

    fn revoke(&mut self, app_key: &str) {
        if let Some(a) = self.apps.get_mut(app_key) {
            a.pair = None;
        }
    }
}

impl Auth {
    /// `POST /rest/fastlogin/v1.0?app_key&username` with the raw password in `Authorization`; the
    /// body is ignored. Checks in the order of spec §3.2's login table: 1020176, 1010002 (app_key,
    /// username), 1023006, 1010003, 1010010, 1010009.
    pub fn fastlogin(&self, req: &RequestMeta) -> Result<TokenPair, ApiError> {
        self.ensure_legacy_enabled()?;
        let now = self.clock.now();
        let query = Params::query(req.query);
        let app_key = query.non_empty("app_key");
        self.guarded(req.peer, app_key, now, || {
            if let Some(k) = app_key {
                self.ensure_key_unlocked(req.peer, k, now)?;
            }
            let app_key = app_key.ok_or_else(|| ApiError::invalid("app_key"))?;
            let username = query
                .non_empty("username")
                .ok_or_else(|| ApiError::invalid("username"))?;
            let password = req
                .headers
                .get(AUTHORIZATION)
                .ok_or(ApiError::Header(HeaderFault::AuthorizationMissing))?;
            let app = self.config.app(app_key).ok_or(ApiError::InvalidAppKey)?;
            let developer = self.config.developer_of(app);
            // `&`, not `&&`: both comparisons always run, so timing does not tell which was wrong.
            let matches = secret_eq(username.as_bytes(), developer.username.as_bytes())
                & secret_eq(password.as_bytes(), developer.password.as_bytes());
            if !matches {
                return Err(ApiError::InvalidDigest.hint(format!(
                    "username and password (the Authorization header) are not those of app \
                     {app_key}'s developer: the sp username and password Dialtone prints at \
                     start-up (developers[].username/password)"
                )));
            }
            let cfg = &self.config.auth.legacy;
            let mut state = self.lock();
            // Dialtone decision (spec §3.2): too early a login gets the flow-control code and no token.
            if state
                .tokens
                .login_too_soon(app_key, now, cfg.login_interval_s)
            {
                return Err(ApiError::FlowControl.hint(format!(
                    "app {app_key} logged in less than {} s ago (auth.legacy.login_interval_s): \
                     keep using its tokens, or refresh them at /omp/oauth/refresh",
                    cfg.login_interval_s
                )));
            }
            Ok(state
                .tokens
                .issue(app_key, now, &self.ids, cfg, Issue::Login))
        })
    }

    /// `POST /omp/oauth/refresh` with `app_key`, `app_secret`, `grant_type=refresh_token` and
    /// `refresh_token` in a form `body` or the query string. Errors in the order of spec §3.2:
    /// 1020176, 1010002 (grant_type, app_key, app_secret, refresh_token), 1010003, 1010010, 1010004.
    pub fn refresh(&self, req: &RequestMeta, body: &[u8]) -> Result<TokenPair, ApiError> {
        self.ensure_legacy_enabled()?;
        let now = self.clock.now();
        let form = Params::form(body);
        let query = Params::query(req.query);
        // Dialtone decision (spec §3.2): a parameter in the body wins over the same one in the
        // query string, even when the body's is empty (it then counts as missing).
        let param = |name: &str| {
            form.get(name)
                .or_else(|| query.get(name))
                .filter(|v| !v.is_empty())
        };
        let app_key = param("app_key");
        self.guarded(req.peer, app_key, now, || {
            if let Some(k) = app_key {
                self.ensure_key_unlocked(req.peer, k, now)?;
            }
            if param("grant_type") != Some("refresh_token") {
                return Err(ApiError::invalid("grant_type"));
            }
            let app_key = app_key.ok_or_else(|| ApiError::invalid("app_key"))?;
            let secret = param("app_secret").ok_or_else(|| ApiError::invalid("app_secret"))?;
            let refresh_token =
                param("refresh_token").ok_or_else(|| ApiError::invalid("refresh_token"))?;
            let app = self.config.app(app_key).ok_or(ApiError::InvalidAppKey)?;
            if !secret_eq(secret.as_bytes(), app.app_secret.as_bytes()) {
                return Err(ApiError::InvalidDigest);
            }
            let mut state = self.lock();
            if !state.tokens.refresh_valid(app_key, refresh_token, now) {
                return Err(ApiError::InvalidAccessToken);
            }
            let cfg = &self.config.auth.legacy;
            Ok(state
                .tokens
                .issue(app_key, now, &self.ids, cfg, Issue::Refresh))
        })
    }

    /// `POST /rest/logout/v1.0?app_key&access_token`: invalidates the app's current pair.
    /// Errors: 1020176; 1010002 for a missing parameter and 1010003 for an unknown app_key
    /// (Dialtone decisions, as for login); 1010004 when the token is already invalid.
    pub fn logout(&self, req: &RequestMeta) -> Result<(), ApiError> {
        self.ensure_legacy_enabled()?;
        let now = self.clock.now();
        let query = Params::query(req.query);
        let app_key = query.non_empty("app_key");
        self.guarded(req.peer, app_key, now, || {
            if let Some(k) = app_key {
                self.ensure_key_unlocked(req.peer, k, now)?;
            }
            let app_key = app_key.ok_or_else(|| ApiError::invalid("app_key"))?;
            let token = query
                .non_empty("access_token")
                .ok_or_else(|| ApiError::invalid("access_token"))?;
            self.config.app(app_key).ok_or(ApiError::InvalidAppKey)?;
            let mut state = self.lock();
            if !state.tokens.access_valid(app_key, token, now) {
                return Err(ApiError::InvalidAccessToken);
            }
            state.tokens.revoke(app_key);
            Ok(())
        })
    }

    /// The token path of a business call (spec §3.2, "Business calls"): app_key locked → 1020176,
    /// missing or unknown app_key → 1010003, bad token → 1010004, app disabled → 1010021.
    pub(super) fn authenticate_token(
        &self,
        peer: IpAddr,
        query: &Params,
        now: SimInstant,
    ) -> Result<String, ApiError> {
        let app_key = query.non_empty("app_key");
        if let Some(k) = app_key {
            self.ensure_key_unlocked(peer, k, now)?;
        }
        let app = app_key
            .and_then(|k| self.config.app(k))
            .ok_or(ApiError::InvalidAppKey)?;
        let token = query.get("access_token").unwrap_or_default();
        if !self.lock().tokens.access_valid(&app.app_key, token, now) {
            return Err(ApiError::InvalidAccessToken);
        }
        if !app.enabled {
            return Err(ApiError::AppUnavailable);
        }
        Ok(app.app_key.clone())
    }

    /// The router answers 404 for disabled legacy endpoints; this keeps a direct call honest too.
    fn ensure_legacy_enabled(&self) -> Result<(), ApiError> {
        if self.legacy_enabled() {
            Ok(())
        } else {
            Err(ApiError::InvalidRestApi {
                method_not_allowed: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::{Sim, APP_KEY, LOGIN, PASSWORD};

    fn business(sim: &Sim, access_token: &str) -> Result<String, ApiError> {
        sim.with_token(&format!(
            "app_key={APP_KEY}&access_token={access_token}&format=json"
        ))
    }

    fn refresh_body(refresh_token: &str) -> String {
        format!("grant_type=refresh_token&app_key={APP_KEY}&app_secret=dT4xQ9pLm2vR8wYz&refresh_token={refresh_token}")
    }

    #[test]
    fn login_issues_a_pair_that_authenticates_business_calls() {
        let sim = Sim::new();
        let pair = sim.login().unwrap();
        assert_eq!(pair.expires_in, "172800");
        for t in [&pair.access_token, &pair.refresh_token] {
            assert_eq!(t.len(), 32);
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        let json = serde_json::to_value(&pair).unwrap();
        assert_eq!(json["expires_in"], "172800");
        assert!(json.get("resultcode").is_none());
        assert_eq!(business(&sim, &pair.access_token), Ok(APP_KEY.to_owned()));
    }

    #[test]
    fn refresh_supersedes_both_old_tokens_and_the_new_pair_works() {
        let sim = Sim::new();
        let old = sim.login().unwrap();
        let new = sim
            .refresh(None, &refresh_body(&old.refresh_token))
            .unwrap();
        assert_ne!(new, old);
        assert_eq!(
            business(&sim, &old.access_token),
            Err(ApiError::InvalidAccessToken)
        );
        assert_eq!(
            sim.refresh(None, &refresh_body(&old.refresh_token)),
            Err(ApiError::InvalidAccessToken)
        );
        assert_eq!(business(&sim, &new.access_token), Ok(APP_KEY.to_owned()));
        assert!(sim.refresh(None, &refresh_body(&new.refresh_token)).is_ok());
    }

    #[test]
    fn a_second_login_within_60_s_gets_1010009_and_issues_nothing() {
        let sim = Sim::new();
        let first = sim.login().unwrap();
        sim.advance_s(59);
        let e = sim.login().unwrap_err();
        assert_eq!((e.resultcode(), e.http_status().as_u16()), ("1010009", 403));
        assert_eq!(business(&sim, &first.access_token), Ok(APP_KEY.to_owned()));
        sim.advance_s(1);
        let second = sim.login().unwrap();
        assert_eq!(
            business(&sim, &first.access_token),
            Err(ApiError::InvalidAccessToken)
        );
        assert_eq!(business(&sim, &second.access_token), Ok(APP_KEY.to_owned()));
    }

    #[test]
    fn the_access_token_expires_after_token_ttl_s_and_refresh_still_works() {
        let sim = Sim::new();
        let pair = sim.login().unwrap();
        sim.advance_s(172_799);
        assert!(business(&sim, &pair.access_token).is_ok());
        sim.advance_s(1);
        assert_eq!(
            business(&sim, &pair.access_token),
            Err(ApiError::InvalidAccessToken)
        );
        assert!(sim
            .refresh(None, &refresh_body(&pair.refresh_token))
            .is_ok());
    }

    #[test]
    fn the_refresh_token_expires_after_refresh_ttl_s() {
        let sim = Sim::new();
        let pair = sim.login().unwrap();
        sim.advance_s(2_592_000);
        assert_eq!(
            sim.refresh(None, &refresh_body(&pair.refresh_token)),
            Err(ApiError::InvalidAccessToken)
        );
    }

    #[test]
    fn login_checks_follow_the_spec_table_order() {
        let sim = Sim::with(|c| {
            let mut other = c.apps[0].clone();
            other.app_key = "OtherApp".into();
            c.apps.push(other);
        });
        let cases: [(&str, Option<&str>, ApiError); 7] = [
            (
                "username=dialtone_dev01",
                None,
                ApiError::invalid("app_key"),
            ),
            ("app_key=NoSuchApp", None, ApiError::invalid("username")),
            (
                "app_key=NoSuchApp&username=",
                None,
                ApiError::invalid("username"),
            ),
            (
                "app_key=NoSuchApp&username=x",
                None,
                ApiError::Header(HeaderFault::AuthorizationMissing),
            ),
            (
                "app_key=NoSuchApp&username=x",
                Some(PASSWORD),
                ApiError::InvalidAppKey,
            ),
            (LOGIN, Some("wrong"), ApiError::InvalidDigest),
            (
                "app_key=OtherApp&username=someone",
                Some(PASSWORD),
                ApiError::InvalidDigest,
            ),
        ];
        for (query, password, want) in cases {
            assert_eq!(
                sim.fastlogin(query, password),
                Err(want),
                "{query} {password:?}"
            );
        }
        assert!(sim.login().is_ok());
        assert_eq!(sim.login(), Err(ApiError::FlowControl));
        assert!(sim
            .fastlogin("app_key=OtherApp&username=dialtone_dev01", Some(PASSWORD))
            .is_ok());
    }

    #[test]
    fn a_plus_in_the_username_must_arrive_as_percent_2b() {
        let sim = Sim::with(|c| c.developers[0].username = "dev+01".into());
        let query = |u: &str| format!("app_key={APP_KEY}&username={u}");
        // A raw `+` decodes as a space, as in any form-encoded parameter.
        assert_eq!(
            sim.fastlogin(&query("dev+01"), Some(PASSWORD)),
            Err(ApiError::InvalidDigest)
        );
        assert!(sim.fastlogin(&query("dev%2B01"), Some(PASSWORD)).is_ok());
    }

    #[test]
    fn refresh_errors_come_in_the_spec_order() {
        let sim = Sim::new();
        let pair = sim.login().unwrap();
        let rt = &pair.refresh_token;
        let k = APP_KEY;
        let cases = [
            (
                format!("app_key=x&app_secret=y&refresh_token={rt}"),
                ApiError::invalid("grant_type"),
            ),
            (
                "grant_type=password&app_key=x".into(),
                ApiError::invalid("grant_type"),
            ),
            (
                "grant_type=refresh_token&app_secret=y".into(),
                ApiError::invalid("app_key"),
            ),
            (
                "grant_type=refresh_token&app_key=x".into(),
                ApiError::invalid("app_secret"),
            ),
            (
                "grant_type=refresh_token&app_key=x&app_secret=y".into(),
                ApiError::invalid("refresh_token"),
            ),
            (
                "grant_type=refresh_token&app_key=x&app_secret=y&refresh_token=z".into(),
                ApiError::InvalidAppKey,
            ),
            (
                format!("grant_type=refresh_token&app_key={k}&app_secret=y&refresh_token=z"),
                ApiError::InvalidDigest,
            ),
            (refresh_body("z"), ApiError::InvalidAccessToken),
        ];
        for (body, want) in cases {
            assert_eq!(sim.refresh(None, &body), Err(want), "{body}");
        }
        assert!(sim.refresh(None, &refresh_body(rt)).is_ok());
    }

    #[test]
    fn refresh_reads_the_query_string_and_the_body_wins_per_parameter() {
        let sim = Sim::new();
        let pair = sim.login().unwrap();
        let query = refresh_body(&pair.refresh_token);
        assert_eq!(
            sim.refresh(Some(&query), "app_secret=wrong"),
            Err(ApiError::InvalidDigest)
        );
        let new = sim.refresh(Some(&query), "").unwrap();
        assert!(sim
            .refresh(
                Some(&query),
                &format!("refresh_token={}", new.refresh_token)
            )
            .is_ok());
    }

    #[test]
    fn logout_invalidates_the_pair_and_a_second_logout_gets_1010004() {
        let sim = Sim::new();
        let pair = sim.login().unwrap();
        let q = format!("app_key={APP_KEY}&access_token={}", pair.access_token);
        assert_eq!(sim.logout(&q), Ok(()));
        assert_eq!(
            business(&sim, &pair.access_token),
            Err(ApiError::InvalidAccessToken)
        );
        assert_eq!(
            sim.refresh(None, &refresh_body(&pair.refresh_token)),
            Err(ApiError::InvalidAccessToken)
        );
        assert_eq!(sim.logout(&q), Err(ApiError::InvalidAccessToken));
        assert_eq!(
            sim.logout("access_token=x"),
            Err(ApiError::invalid("app_key"))
        );
        assert_eq!(
            sim.logout("app_key=NoSuchApp&access_token=x"),
            Err(ApiError::InvalidAppKey)
        );
    }

    #[test]
    fn business_calls_with_a_token_check_app_key_then_token_then_enabled() {
        let sim = Sim::with(|c| {
            let mut other = c.apps[0].clone();
            other.app_key = "OtherApp".into();
            other.enabled = false;
            c.apps.push(other);
        });
        let pair = sim.login().unwrap();
        let t = &pair.access_token;
        assert_eq!(
            sim.with_token(&format!("access_token={t}")),
            Err(ApiError::InvalidAppKey)
        );
        assert_eq!(
            sim.with_token(&format!("app_key=NoSuchApp&access_token={t}")),
            Err(ApiError::InvalidAppKey)
        );
        assert_eq!(business(&sim, ""), Err(ApiError::InvalidAccessToken));
        // A token issued to another app is no token for this one.
        let other = format!("app_key=OtherApp&access_token={t}");
        assert_eq!(sim.with_token(&other), Err(ApiError::InvalidAccessToken));
        let other_pair = sim
            .fastlogin("app_key=OtherApp&username=dialtone_dev01", Some(PASSWORD))
            .unwrap();
        let other = format!("app_key=OtherApp&access_token={}", other_pair.access_token);
        assert_eq!(sim.with_token(&other), Err(ApiError::AppUnavailable));
    }

    #[test]
    fn legacy_endpoints_answer_1010006_when_disabled() {
        let sim = Sim::with(|c| c.auth.legacy.enabled = false);
        let e = sim.login().unwrap_err();
        assert_eq!((e.resultcode(), e.http_status().as_u16()), ("1010006", 404));
        assert_eq!(sim.refresh(None, "").unwrap_err().resultcode(), "1010006");
        assert_eq!(sim.logout("").unwrap_err().resultcode(), "1010006");
    }
}
