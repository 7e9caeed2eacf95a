//! Identifiers and randomness: sessionIds, icids, nonces and tokens, all from one seedable source.
//!
//! With a seed (`seed` in config, `--seed`) every draw is reproducible; without one the generator
//! is seeded from the OS, which makes ids unique per run as on the real platform. The generator is
//! a CSPRNG (ChaCha) either way, because push nonces and legacy tokens must be unpredictable
//! (spec §8, §3.2).

use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The one source of randomness in Dialtone.
#[derive(Debug)]
pub struct IdGen {
    seed: Option<u64>,
    rng: Mutex<StdRng>,
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX_UPPER: &[u8] = b"0123456789ABCDEF";

impl IdGen {
    /// Seeded: reproducible. `None`: seeded from the operating system.
    pub fn new(seed: Option<u64>) -> IdGen {
        IdGen {
            seed,
            rng: Mutex::new(Self::fresh_rng(seed)),
        }
    }

    fn fresh_rng(seed: Option<u64>) -> StdRng {
        match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        }
    }

    /// Whether draws are reproducible.
    pub fn is_seeded(&self) -> bool {
        self.seed.is_some()
    }

    /// Starts the sequence of draws again, as at start-up (`POST /sim/v1/reset`).
    pub fn restart(&self) {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        *rng = Self::fresh_rng(self.seed);
    }

    /// A push nonce for attempt `attempt` of delivery `key`. Seeded, it is derived from the seed
    /// and the key (HMAC-SHA256), so it does not depend on the order in which concurrent
    /// deliveries happen to finish; unseeded, it is a fresh random draw.
    pub fn nonce_for(&self, key: &str, attempt: u32) -> String {
        let Some(seed) = self.seed else {
            return self.nonce();
        };
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&seed.to_be_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(key.as_bytes());
        mac.update(&attempt.to_be_bytes());
        // Written digit by digit: a `format!` per byte was a sizeable part of each push.
        let mut hex = String::with_capacity(32);
        for b in &mac.finalize().into_bytes()[..16] {
            hex.push(HEX_UPPER[usize::from(b >> 4)] as char);
            hex.push(HEX_UPPER[usize::from(b & 0xF)] as char);
        }
        hex
    }

    fn with<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-draw; the RNG state is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut rng)
    }

    /// A number in [0, 1) for attempt `attempt` of `key` (retry jitter, fault odds): derived from
    /// the seed when seeded, random otherwise.
    pub fn unit_for(&self, key: &str, attempt: u32) -> f64 {
        let hex = self.nonce_for(key, attempt);
        let n = u64::from_str_radix(&hex[..13], 16).unwrap_or(0);
        n as f64 / (1u64 << 52) as f64
    }

    /// The `rand` part of a sessionId: 0..=4294967295 (spec §4.3).
    pub fn session_rand(&self) -> u32 {
        self.with(|r| r.random())
    }

    /// A push nonce: 32 upper-case hex characters (spec §8).
    pub fn nonce(&self) -> String {
        self.pick(HEX_UPPER, 32)
    }

    /// A legacy token: 32 characters `[0-9A-Za-z]` (spec §3.2).
    pub fn token(&self) -> String {
        self.pick(ALNUM, 32)
    }

    fn pick(&self, alphabet: &[u8], len: usize) -> String {
        self.with(|r| {
            (0..len)
                .map(|_| alphabet[r.random_range(0..alphabet.len())] as char)
                .collect()
        })
    }
}

/// `<node>_<seq>_<rand>_<yyyyMMddHHmmss>@<domain>`, the timestamp in UTC (spec §4.3).
pub fn session_id(node: u32, seq: u64, rand: u32, accepted: DateTime<Utc>, domain: &str) -> String {
    let at = crate::clock::compact_time(&accepted);
    // Pushed piece by piece: the `format!` showed in the profile of every accepted call.
    let mut id = String::with_capacity(10 + 1 + 20 + 1 + 10 + 1 + at.len() + 1 + domain.len());
    push_decimal(&mut id, u64::from(node));
    id.push('_');
    push_decimal(&mut id, seq);
    id.push('_');
    push_decimal(&mut id, u64::from(rand));
    id.push('_');
    id.push_str(&at);
    id.push('@');
    id.push_str(domain);
    id
}

/// Appends `n` in decimal, as `Display` writes it.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&b| char::from(b)));
}

/// `CAE-<yyyyMMddHHmmss in UTC+8>-<8-digit sequence>` (spec §7.1).
pub fn icid(seq: u64, accepted: DateTime<Utc>) -> String {
    let beijing = accepted.with_timezone(&beijing());
    format!(
        "CAE-{}-{:08}",
        crate::clock::compact_time(&beijing),
        seq % 100_000_000
    )
}

/// UTC+8, the platform's home time zone.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+8 hours is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_read_as_the_format_macro_wrote_them() {
        let mut t: DateTime<Utc> = "1970-01-01T00:00:00Z".parse().unwrap();
        let mut n: u64 = 0;
        for _ in 0..20_000 {
            let (node, rand) = (
                n as u32 % 100_000,
                (n.wrapping_mul(2_654_435_761) >> 7) as u32,
            );
            for seq in [n, u64::MAX - n, n % 10, n * 1_000_003] {
                let at = t.format("%Y%m%d%H%M%S");
                assert_eq!(
                    session_id(node, seq, rand, t, "callenabler.home1.com"),
                    format!("{node}_{seq}_{rand}_{at}@callenabler.home1.com")
                );
            }
            n += 7_919;
            t += chrono::Duration::seconds(1_234_567);
        }
        assert_eq!(
            session_id(u32::MAX, u64::MAX, 0, t, ""),
            format!("{}_{}_0_{}@", u32::MAX, u64::MAX, t.format("%Y%m%d%H%M%S"))
        );
    }

    #[test]
    fn ids_follow_the_platform_formats() {
        let t: DateTime<Utc> = "2026-03-14T10:15:31Z".parse().unwrap();
        assert_eq!(
            session_id(1200, 17, 2841736025, t, "callenabler.home1.com"),
            "1200_17_2841736025_20260314101531@callenabler.home1.com"
        );
        assert_eq!(icid(17, t), "CAE-20260314181531-00000017");
    }

    #[test]
    fn a_seed_makes_draws_reproducible() {
        let (a, b) = (IdGen::new(Some(7)), IdGen::new(Some(7)));
        assert_eq!(a.nonce(), b.nonce());
        assert_eq!(a.token(), b.token());
        let n = a.nonce();
        assert_eq!(n.len(), 32);
        assert!(n
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(IdGen::new(None).nonce(), IdGen::new(None).nonce());
        let seeded = IdGen::new(Some(7));
        assert_eq!(
            seeded.nonce_for("s1.1", 1),
            IdGen::new(Some(7)).nonce_for("s1.1", 1)
        );
        assert_ne!(seeded.nonce_for("s1.1", 1), seeded.nonce_for("s1.1", 2));
        // The first 16 bytes of HMAC-SHA256(seed, key ‖ attempt), in upper-case hex.
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&7u64.to_be_bytes()).unwrap();
        mac.update(b"s1.1");
        mac.update(&1u32.to_be_bytes());
        let expected: String = mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(seeded.nonce_for("s1.1", 1), expected);
        let first = seeded.session_rand();
        seeded.restart();
        assert_eq!(seeded.session_rand(), first);
    }
}
