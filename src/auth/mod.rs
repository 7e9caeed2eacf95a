//! Authentication (spec §3): who is calling, and may they?
//!
//! [`Auth`] owns the mutable state authentication needs, behind one std `Mutex` that is never held
//! across I/O: the X-AKSK nonce cache, the legacy token store with login times, and the lockout
//! counters. The HTTP layer hands it a [`RequestMeta`] and gets back the app_key or an [`ApiError`]
//! to render; it never sees secrets.
//!
//! Check orders:
//! * business calls ([`Auth::authenticate`]): legacy token scheme when the query string has an
//!   `access_token` parameter and `auth.legacy.enabled`, else X-AKSK checks 0–12 (spec §3.1):
//!   address locked, headers (1–7), app_key locked, app_key known, `Created` window, digest then
//!   nonce replay, app enabled;
//! * legacy login, refresh, logout and token calls: address and app_key locked first, then the
//!   tables of spec §3.2 (implemented in [`legacy`]).
//!
//! Every endpoint goes through the lockout of spec §3.3 the same way ([`Auth::guarded`]).
//! Time: lockout and token lifetimes run on the simulated clock (tests fast-forward them); the
//! `Created` window and the nonce cache run on real transport time, like the client's own clock.

pub mod aksk;
mod hints;
pub mod legacy;
mod lockout;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::clock::{self, Clock, SimInstant};
use crate::config::Config;
use crate::error::ApiError;
use crate::ids::IdGen;

pub use legacy::TokenPair;

/// What the HTTP layer knows about a request before its body.
#[derive(Clone, Copy)]
pub struct RequestMeta<'a> {
    /// The TCP peer address; `X-Forwarded-For` is ignored (spec §3.3).
    pub peer: IpAddr,
    pub headers: &'a HeaderMap,
    /// The raw query string, undecoded.
    pub query: Option<&'a str>,
}

/// Authentication state and checks for every endpoint. Share it as `Arc<Auth>`.
pub struct Auth {
    config: Arc<Config>,
    clock: Arc<Clock>,
    ids: Arc<IdGen>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    nonces: NonceCache,
    tokens: legacy::TokenStore,
    lockout: lockout::Lockout,
}

// Manual, so that tokens never end up in a log through `{:?}`.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(config: Arc<Config>, clock: Arc<Clock>, ids: Arc<IdGen>) -> Auth {
        Auth {
            config,
            clock,
            ids,
            state: Mutex::new(State::default()),
        }
    }

    /// Authenticates a business request (callVerify, …) and returns the app's app_key.
    ///
    /// Uses the legacy token scheme if the query string has an `access_token` parameter and
    /// `auth.legacy.enabled` (X-AKSK headers are then ignored), else X-AKSK. Errors: `1023xxx`,
    /// 1010003, 1010004, 1010010, 1010013, 1010021 and 1020176 (locked out).
    pub fn authenticate(&self, req: &RequestMeta) -> Result<String, ApiError> {
        self.authenticate_at(req, clock::transport_now)
    }

    /// [`Auth::authenticate`] against the given transport time (tests pin it). Only X-AKSK reads
    /// it, so a legacy token never asks the wall clock.
    fn authenticate_at(
        &self,
        req: &RequestMeta,
        wall_now: impl FnOnce() -> DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let now = self.clock.now();
        let query = Params::query(req.query);
        if self.legacy_enabled() && query.has("access_token") {
            let claimed = query.non_empty("app_key");
            return self.guarded(req.peer, claimed, now, || {
                self.authenticate_token(req.peer, &query, now)
            });
        }
        let x_aksk = header_text(req.headers, "x-aksk");
        let claimed = aksk::claimed_app_key(x_aksk.as_deref());
        self.guarded(req.peer, claimed.as_deref(), now, || {
            self.check_aksk(req.peer, req.headers, x_aksk.as_deref(), now, wall_now())
        })
    }

    /// X-AKSK checks 1–12 of spec §3.1 (check 0 is in [`Auth::guarded`]).
    fn check_aksk(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
        x_aksk: Option<&str>,
        now: SimInstant,
        wall_now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        // Checks 1–7: malformed headers (400 1023xxx).
        let header = |fault| ApiError::Header(fault).hint(hints::HEADERS);
        aksk::check_authorization(header_text(headers, AUTHORIZATION.as_str()).as_deref())
            .map_err(header)?;
        let token = aksk::parse_x_aksk(x_aksk).map_err(header)?;
        self.ensure_key_unlocked(peer, &token.username, now)?; // check 8
        let app = self.config.app(&token.username).ok_or_else(|| {
            ApiError::InvalidAppKey.hint(format!(
                "no app `{}` in Dialtone's configuration (X-AKSK Username is the app_key)",
                token.username
            ))
        })?;
        // Check 10, against real transport time: the client's clock is real too.
        let window_s = self.config.auth.created_window_s;
        let created = aksk::Created::parse(&token.created).ok_or_else(|| {
            ApiError::TimeOutLimit.hint(format!(
                "Created `{}` is not a time like 2026-03-14T10:15:30Z (yyyy-MM-ddTHH:mm:ssZ)",
                token.created
            ))
        })?;
        if !created.within_window(wall_now, window_s) {
            return Err(ApiError::TimeOutLimit.hint(hints::created_off(
                &token.created,
                created,
                wall_now,
                window_s,
            )));
        }
        // Check 11: digest first, so that a forged request cannot burn a genuine nonce.
        if !token.digest_matches(&app.app_secret) {
            return Err(ApiError::InvalidDigest.hint(hints::digest_mismatch(&token)));
        }
        if self.config.auth.reject_nonce_replay {
            let until = created.accepted_until(window_s);
            if !self
                .lock()
                .nonces
                .admit(&app.app_key, &token.nonce, until, wall_now)
            {
                return Err(ApiError::InvalidDigest.hint(format!(
                    "Nonce `{}` was already used by app {} and is remembered until {} \
                     (Created + auth.created_window_s): send a fresh random Nonce with every request",
                    token.nonce,
                    app.app_key,
                    until.format("%Y-%m-%dT%H:%M:%SZ")
                )));
            }
        }
        if !app.enabled {
            return Err(ApiError::AppUnavailable.hint(format!(
                "app {} is disabled in the configuration (apps[].enabled = false)",
                app.app_key
            )));
        }
        Ok(app.app_key.clone())
    }

    /// Whether the legacy endpoints are enabled (`auth.legacy.enabled`); when false the router
    /// answers 404 `1010006` for them and `access_token` parameters are ignored.
    pub fn legacy_enabled(&self) -> bool {
        self.config.auth.legacy.enabled
    }

    /// Forgets all tokens, nonces, lockouts and login times (`POST /sim/v1/reset`).
    pub fn reset(&self) {
        *self.lock() = State::default();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the maps are still consistent
        // enough for a simulator, and refusing every request would be worse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs an endpoint's `checks` under the lockout of spec §3.3: refuses a locked address first
    /// (check 0), then counts an authentication failure against the address and the `claimed`
    /// app_key, or resets both on success. Other refusals (1010002, 1010009, 1010021, 1020176)
    /// neither count nor reset. `checks` asks [`Auth::ensure_key_unlocked`] where its order says.
    fn guarded<T>(
        &self,
        peer: IpAddr,
        claimed: Option<&str>,
        now: SimInstant,
        checks: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let cfg = &self.config.auth.lockout;
        // An IPv4 client on a dual-stack socket is one address, however it arrived.
        let peer = peer.to_canonical();
        if let Some(until) = self.lock().lockout.addr_locked(cfg, peer, now) {
            return Err(ApiError::LockedOut.hint(self.lock_hint(peer, None, until)));
        }
        let result = checks();
        match result {
            Ok(_) => {
                self.lock().lockout.record_success(peer, claimed);
                result
            }
            Err(e) if e.counts_as_auth_failure() && cfg.enabled => {
                let (locked, count) = {
                    let mut state = self.lock();
                    let locked = state.lockout.record_failure(cfg, peer, claimed, now);
                    (locked, state.lockout.failures(cfg, peer, claimed, now))
                };
                tracing::debug!(%peer, app_key = claimed, code = e.resultcode(), "authentication failed");
                let until = now.plus_s(cfg.lock_s);
                if locked.0 || locked.1 {
                    let key = claimed.filter(|_| locked.1 && !locked.0);
                    tracing::warn!(
                        %peer,
                        app_key = claimed,
                        "locked: {}",
                        self.lock_hint(peer, key, until)
                    );
                }
                // A lock clears the counter: the failure that locked was the last one counted.
                let count = if locked.0 || locked.1 {
                    cfg.max_failures.max(1) as usize
                } else {
                    count
                };
                // Many keys from one address lock the address before any one key's count is full.
                let key = claimed.filter(|_| !locked.0 || locked.1);
                let counted = self.failure_count_hint(key, count, until);
                let hint = match e.explanation() {
                    Some(h) => format!("{h}; {counted}"),
                    None => counted,
                };
                Err(e.hint(hint))
            }
            Err(e) => Err(e),
        }
    }

    /// Which failure this was of how many the lockout allows, so a client learns of the lock
    /// before it hits it.
    fn failure_count_hint(&self, claimed: Option<&str>, count: usize, until: SimInstant) -> String {
        let cfg = &self.config.auth.lockout;
        let max = cfg.max_failures.max(1);
        let what = match claimed {
            Some(key) => format!("app_key {key} for this address"),
            None => "this address for every app_key".to_owned(),
        };
        let then = match count >= max as usize {
            true => format!("this failure locked {what}"),
            false => format!("at {max} Dialtone locks {what}"),
        };
        format!(
            "authentication failure {count} of {max} within {} s from this address \
             (auth.lockout); {then} until {} (simulated time); `dialtone reset` clears it",
            cfg.window_s,
            self.clock.wall(until).format("%Y-%m-%dT%H:%M:%SZ"),
        )
    }

    fn ensure_key_unlocked(
        &self,
        peer: IpAddr,
        app_key: &str,
        now: SimInstant,
    ) -> Result<(), ApiError> {
        let cfg = &self.config.auth.lockout;
        let peer = peer.to_canonical();
        if let Some(until) = self.lock().lockout.key_locked(cfg, peer, app_key, now) {
            return Err(ApiError::LockedOut.hint(self.lock_hint(peer, Some(app_key), until)));
        }
        Ok(())
    }

    /// What a lock is, until when, and how to clear it: the 1020176 hint and the lock's log line.
    fn lock_hint(&self, peer: IpAddr, app_key: Option<&str>, until: SimInstant) -> String {
        let cfg = &self.config.auth.lockout;
        let what = match app_key {
            Some(key) => format!("app_key {key} is locked for requests from {peer}"),
            None => format!("address {peer} is locked for every app_key"),
        };
        format!(
            "{what} until {} (simulated time) after {} authentication failures within {} s \
             (auth.lockout); `dialtone reset` (POST /sim/v1/reset) clears it",
            self.clock.wall(until).format("%Y-%m-%dT%H:%M:%SZ"),
            cfg.max_failures.max(1),
            cfg.window_s
        )
    }
}

/// Compares secrets in constant time (the length is not secret).
fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A header's value as text; bytes that are not UTF-8 become U+FFFD and simply fail to match.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

/// Decoded `name=value` pairs of a query string or form body: `%2B` is a plus, and a raw `+` is a
/// space, as for every form-encoded parameter (spec §3.2: clients send `+` as `%2B`). Pairs
/// needing no decoding borrow the request's text: copying them showed in every call's profile.
struct Params<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Params<'a> {
    fn form(bytes: &'a [u8]) -> Params<'a> {
        Params(url::form_urlencoded::parse(bytes).collect())
    }

    fn query(query: Option<&'a str>) -> Params<'a> {
        Params::form(query.unwrap_or_default().as_bytes())
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Dialtone decision: of a repeated parameter the first occurrence counts.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// A parameter that is present and not empty; an empty one counts as missing.
    fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// Accepted `(app_key, Nonce)` pairs, each kept until its `Created` could no longer be accepted
/// under either reading (spec §3.1, "Nonce replay"), then pruned: the requests of the last
/// 8 h + 2 × `created_window_s` (the UTC+8 reading makes the UTC one 8 h late), and of those at
/// most [`MAX_NONCES`], the ones expiring soonest forgotten first. At 500 signed requests a
/// second, 8 hours would be 14 million nonces.
#[derive(Default)]
struct NonceCache {
    /// Keyed by a 64-bit hash of the pair, not the strings: a tenth of the memory, and a false
    /// "replay" needs two of the remembered pairs to collide (about 1 in 3·10^9 when full).
    until: HashMap<u64, DateTime<Utc>>,
    by_expiry: BTreeSet<(DateTime<Utc>, u64)>,
}

/// The most nonces remembered at once (Dialtone decision: about 6 MB).
const MAX_NONCES: usize = 100_000;

impl NonceCache {
    /// Remembers the pair until `until`; false if it is already remembered (a replay).
    fn admit(
        &mut self,
        app_key: &str,
        nonce: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        while let Some(&(expiry, key)) = self.by_expiry.first() {
            if expiry >= now && self.until.len() < MAX_NONCES {
                break;
            }
            self.by_expiry.pop_first();
            self.until.remove(&key);
        }
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (app_key, nonce).hash(&mut h);
            h.finish()
        };
        if self.until.contains_key(&key) {
            return false;
        }
        self.by_expiry.insert((until, key));
        self.until.insert(key, until);
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! The fixture of every auth test: `Config::embedded()`, a manual clock, seeded ids.

    use std::net::Ipv4Addr;

    use axum::http::HeaderValue;

    use super::*;

    pub(crate) const APP_KEY: &str = "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z";
    pub(crate) const APP_SECRET: &str = "dT4xQ9pLm2vR8wYz";
    /// The spec's §4.4 example request: its `Created`, and a server time one second later.
    pub(crate) const CREATED: &str = "2026-03-14T10:15:30Z";
    pub(crate) const WALL: &str = "2026-03-14T10:15:31Z";
    pub(crate) const LOGIN: &str = "app_key=k3VdT9wQx2LpR7mN4sB8cY1fHj6Z&username=dialtone_dev01";
    pub(crate) const PASSWORD: &str = "Dev#Pass2026";

    pub(crate) fn peer(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    /// The two X-AKSK headers, signed with `secret`.
    pub(crate) fn aksk_headers(app: &str, secret: &str, nonce: &str, created: &str) -> HeaderMap {
        let digest = aksk::request_digest(secret, nonce, created);
        let (authorization, x_aksk) = aksk::client_headers(app, &digest, nonce, created);
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&authorization).expect("ascii"),
        );
        h.insert("x-aksk", HeaderValue::from_str(&x_aksk).expect("ascii"));
        h
    }

    fn meta<'a>(peer: IpAddr, headers: &'a HeaderMap, query: Option<&'a str>) -> RequestMeta<'a> {
        RequestMeta {
            peer,
            headers,
            query,
        }
    }

    pub(crate) struct Sim {
        pub(crate) auth: Auth,
        pub(crate) clock: Arc<Clock>,
    }

    impl Sim {
        pub(crate) fn new() -> Sim {
            Sim::with(|_| {})
        }

        pub(crate) fn with(edit: impl FnOnce(&mut Config)) -> Sim {
            let mut config = Config::embedded();
            edit(&mut config);
            let clock = Arc::new(Clock::manual(WALL.parse().expect("a valid time")));
            let ids = Arc::new(IdGen::new(Some(7)));
            let auth = Auth::new(Arc::new(config), clock.clone(), ids);
            Sim { auth, clock }
        }

        pub(crate) fn advance_s(&self, s: u64) {
            self.clock.set(self.clock.now().plus_s(s));
        }

        /// A business call at transport time [`WALL`].
        pub(crate) fn authenticate(
            &self,
            peer: IpAddr,
            h: &HeaderMap,
            q: Option<&str>,
        ) -> Result<String, ApiError> {
            self.authenticate_hinted(peer, h, q)
                .map_err(|e| e.plain().clone())
        }

        /// [`Sim::authenticate`] with Dialtone's explanation left on the error.
        pub(crate) fn authenticate_hinted(
            &self,
            peer: IpAddr,
            h: &HeaderMap,
            q: Option<&str>,
        ) -> Result<String, ApiError> {
            let wall = WALL.parse().expect("a valid time");
            self.auth.authenticate_at(&meta(peer, h, q), || wall)
        }

        /// An X-AKSK business call with `Created` = [`CREATED`].
        pub(crate) fn aksk_from(
            &self,
            peer: IpAddr,
            app: &str,
            secret: &str,
            nonce: &str,
        ) -> Result<String, ApiError> {
            self.authenticate(peer, &aksk_headers(app, secret, nonce, CREATED), None)
        }

        /// A legacy business call from `peer(1)`.
        pub(crate) fn with_token(&self, query: &str) -> Result<String, ApiError> {
            self.authenticate(peer(1), &HeaderMap::new(), Some(query))
        }

        pub(crate) fn fastlogin(
            &self,
            q: &str,
            password: Option<&str>,
        ) -> Result<TokenPair, ApiError> {
            let mut h = HeaderMap::new();
            if let Some(p) = password {
                h.insert(AUTHORIZATION, HeaderValue::from_str(p).expect("ascii"));
            }
            self.auth
                .fastlogin(&meta(peer(1), &h, Some(q)))
                .map_err(|e| e.plain().clone())
        }

        /// Logs the demo developer into the demo app.
        pub(crate) fn login(&self) -> Result<TokenPair, ApiError> {
            self.fastlogin(LOGIN, Some(PASSWORD))
        }

        pub(crate) fn refresh(&self, q: Option<&str>, body: &str) -> Result<TokenPair, ApiError> {
            self.auth
                .refresh(&meta(peer(1), &HeaderMap::new(), q), body.as_bytes())
                .map_err(|e| e.plain().clone())
        }

        pub(crate) fn logout(&self, q: &str) -> Result<(), ApiError> {
            self.auth
                .logout(&meta(peer(1), &HeaderMap::new(), Some(q)))
                .map_err(|e| e.plain().clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::error::HeaderFault;

    #[test]
    fn the_spec_example_request_authenticates_the_demo_app() {
        let sim = Sim::new();
        let h = aksk_headers(
            APP_KEY,
            APP_SECRET,
            "9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E",
            CREATED,
        );
        assert_eq!(
            h["x-aksk"].to_str().unwrap(),
            r#"UsernameToken Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="j07xD3Yp3Ox91zNkEUX6HCtY5jdi6FpdMt+BFVpZMBE=",Nonce="9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E",Created="2026-03-14T10:15:30Z""#
        );
        assert_eq!(sim.authenticate(peer(1), &h, None), Ok(APP_KEY.to_owned()));
    }

    #[test]
    fn a_created_written_in_beijing_time_is_accepted_too() {
        let sim = Sim::new();
        let h = aksk_headers(APP_KEY, APP_SECRET, "N1", "2026-03-14T18:15:30Z");
        assert_eq!(sim.authenticate(peer(1), &h, None), Ok(APP_KEY.to_owned()));
    }

    #[test]
    fn a_request_signed_now_passes_against_the_real_transport_clock() {
        let sim = Sim::new();
        let created = aksk::format_created(clock::transport_now());
        let h = aksk_headers(APP_KEY, APP_SECRET, "live1", &created);
        let meta = RequestMeta {
            peer: peer(1),
            headers: &h,
            query: Some("format=json"),
        };
        assert_eq!(sim.auth.authenticate(&meta), Ok(APP_KEY.to_owned()));
    }

    #[test]
    fn an_unknown_app_key_gets_1010003() {
        let r = Sim::new().aksk_from(peer(1), "NoSuchApp", APP_SECRET, "N1");
        assert_eq!(r.unwrap_err().resultcode(), "1010003");
    }

    #[test]
    fn a_digest_made_with_the_wrong_secret_gets_1010010() {
        let r = Sim::new().aksk_from(peer(1), APP_KEY, "not-the-secret", "N1");
        assert_eq!(r, Err(ApiError::InvalidDigest));
    }

    #[test]
    fn a_replayed_nonce_gets_1010010_but_a_fresh_one_passes() {
        let sim = Sim::new();
        assert!(sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N1").is_ok());
        assert_eq!(
            sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N1"),
            Err(ApiError::InvalidDigest)
        );
        assert!(sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N2").is_ok());
    }

    #[test]
    fn replays_are_allowed_when_reject_nonce_replay_is_off() {
        let sim = Sim::with(|c| c.auth.reject_nonce_replay = false);
        for _ in 0..3 {
            assert!(sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N1").is_ok());
        }
    }

    #[test]
    fn the_nonce_cache_forgets_a_nonce_once_its_created_has_expired() {
        let mut cache = NonceCache::default();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let until = t("2026-03-14T10:20:30Z");
        assert!(cache.admit("k", "N1", until, t("2026-03-14T10:15:31Z")));
        assert!(!cache.admit("k", "N1", until, t("2026-03-14T10:20:30Z")));
        assert!(cache.admit("other", "N1", until, t("2026-03-14T10:20:30Z")));
        assert!(cache.admit(
            "k",
            "N2",
            t("2026-03-14T10:30:00Z"),
            t("2026-03-14T10:20:31Z")
        ));
        assert_eq!(cache.until.len(), 1, "the two expired entries are pruned");
        assert_eq!(cache.by_expiry.len(), 1);
    }

    #[test]
    fn the_nonce_cache_holds_only_the_nonces_still_inside_their_window() {
        // A day of one accepted request per second, each `Created` acceptable for 8 h 10 min
        // (the UTC+8 reading plus the window): the cache never holds more than that span.
        let mut cache = NonceCache::default();
        let start = "2026-03-14T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let kept = chrono::Duration::seconds(8 * 3600 + 600);
        for s in 0..86_400 {
            let now = start + chrono::Duration::seconds(s);
            assert!(cache.admit(APP_KEY, &format!("N{s}"), now + kept, now));
            assert!(cache.until.len() as i64 <= kept.num_seconds() + 1);
        }
        assert_eq!(cache.until.len(), cache.by_expiry.len());
    }

    #[test]
    fn under_load_the_nonce_cache_keeps_the_newest_nonces_up_to_its_bound() {
        // 500 signed requests a second for 5 minutes, all still inside their window.
        let mut cache = NonceCache::default();
        let start = "2026-03-14T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let kept = chrono::Duration::seconds(8 * 3600 + 600);
        let n = 150_000;
        for i in 0..n {
            let now = start + chrono::Duration::milliseconds(2 * i);
            assert!(cache.admit(APP_KEY, &format!("N{i}"), now + kept, now));
            assert!(cache.len() <= MAX_NONCES);
        }
        assert_eq!(cache.len(), MAX_NONCES);
        assert_eq!(cache.until.len(), cache.by_expiry.len());
        let now = start + chrono::Duration::milliseconds(2 * n);
        // The newest are still caught as replays; the oldest were forgotten first.
        let last = format!("N{}", n - 1);
        assert!(!cache.admit(APP_KEY, &last, now + kept, now));
        assert!(cache.admit(APP_KEY, "N0", now + kept, now));
    }

    #[test]
    fn logins_to_invented_app_keys_leave_no_token_entry() {
        // Lockout off, so every attempt reaches the app_key check.
        let sim = Sim::with(|c| c.auth.lockout.enabled = false);
        for i in 0..1000 {
            let q = format!("app_key=invented{i}&username=dialtone_dev01");
            assert_eq!(
                sim.fastlogin(&q, Some(PASSWORD)),
                Err(ApiError::InvalidAppKey)
            );
        }
        assert_eq!(sim.auth.lock().tokens.apps_held(), 0);
        sim.login().unwrap();
        assert_eq!(
            sim.auth.lock().tokens.apps_held(),
            1,
            "one entry per real app"
        );
    }

    #[test]
    fn a_stale_or_unparseable_created_gets_1010013() {
        let sim = Sim::new();
        for created in ["2026-03-14T10:10:30Z", "2026-03-14T14:15:30Z", "yesterday"] {
            let h = aksk_headers(APP_KEY, APP_SECRET, "N1", created);
            assert_eq!(
                sim.authenticate(peer(1), &h, None),
                Err(ApiError::TimeOutLimit),
                "{created}"
            );
        }
    }

    #[test]
    fn header_faults_are_400s_in_check_order() {
        let sim = Sim::new();
        let mut h = aksk_headers(APP_KEY, APP_SECRET, "N1", CREATED);
        h.remove("x-aksk");
        let e = sim.authenticate(peer(1), &h, None).unwrap_err();
        assert_eq!(e, ApiError::Header(HeaderFault::XAkskMissing));
        assert_eq!(e.http_status(), axum::http::StatusCode::BAD_REQUEST);
        h.remove(AUTHORIZATION);
        let e = sim.authenticate(peer(1), &h, None).unwrap_err();
        assert_eq!(e.resultcode(), "1023006");
    }

    #[test]
    fn a_disabled_app_gets_1010021_only_after_its_digest_checks_out() {
        let sim = Sim::with(|c| c.apps[0].enabled = false);
        assert_eq!(
            sim.aksk_from(peer(1), APP_KEY, "wrong", "N1"),
            Err(ApiError::InvalidDigest)
        );
        let r = sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N2");
        assert_eq!(r.unwrap_err().resultcode(), "1010021");
    }

    #[test]
    fn an_access_token_parameter_selects_the_legacy_scheme_and_ignores_x_aksk() {
        let sim = Sim::new();
        let h = aksk_headers(APP_KEY, APP_SECRET, "N1", CREATED);
        let q = format!("app_key={APP_KEY}&access_token=bogus");
        assert_eq!(
            sim.authenticate(peer(1), &h, Some(&q)),
            Err(ApiError::InvalidAccessToken)
        );
    }

    #[test]
    fn with_legacy_disabled_access_token_is_ignored_and_x_aksk_applies() {
        let sim = Sim::with(|c| c.auth.legacy.enabled = false);
        assert!(!sim.auth.legacy_enabled());
        let h = aksk_headers(APP_KEY, APP_SECRET, "N1", CREATED);
        let q = format!("app_key={APP_KEY}&access_token=bogus");
        assert_eq!(
            sim.authenticate(peer(1), &h, Some(&q)),
            Ok(APP_KEY.to_owned())
        );
        assert_eq!(
            sim.with_token(&q),
            Err(ApiError::Header(HeaderFault::AuthorizationMissing))
        );
    }

    #[test]
    fn auth_can_be_shared_by_the_server_tasks() {
        fn shared<T: Send + Sync + std::fmt::Debug>() {}
        shared::<Auth>();
    }

    #[test]
    fn reset_forgets_nonces_tokens_and_lockouts() {
        let sim = Sim::new();
        assert!(sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N1").is_ok());
        let pair = sim.login().unwrap();
        for i in 0..5 {
            let _ = sim.aksk_from(peer(2), APP_KEY, "wrong", &format!("bad{i}"));
        }
        sim.auth.reset();
        assert!(sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "N1").is_ok());
        let q = format!("app_key={APP_KEY}&access_token={}", pair.access_token);
        assert_eq!(sim.with_token(&q), Err(ApiError::InvalidAccessToken));
        assert!(sim.login().is_ok(), "the login time is forgotten too");
    }
}
