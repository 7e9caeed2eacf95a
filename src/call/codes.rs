//! The platform's release codes: stateCode (spec §10.2), with the SIP status and Q.850 cause that
//! Dialtone pairs with each (spec §5.3, §10.3).

use serde::Serialize;

/// Why a call ended, as the disconnect event's `stateCode` and the CDR's `ulFailReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "u32")]
pub enum StateCode {
    /// 0: connected, heard the announcement, released normally.
    Released,
    /// 7001/7002/7003: a frequency rule of that scope refused the call before callout.
    DeveloperFrequency,
    AppFrequency,
    DisplayNumberFrequency,
    /// 7004: the callee is blacklisted.
    Blacklisted,
    /// 7109: no voice port was free.
    NoPorts,
    /// 8001: the callee was not connected; Dialtone uses it for a call stopped (callStop) before
    /// the callee answered (spec §13).
    NotConnected,
    /// 8000: internal error. Dialtone uses it for calls a restart cut off (Dialtone decision).
    InternalError,
    /// 8003: rang until `call.ring_timeout_s`; the platform cancelled.
    RingTimeout,
    /// 8007: playing to the user failed (only if rendering fails internally).
    PlayFailed,
    /// 8008: a digit collection got no key (spec §11.4); the CDR's `ulFailReason` is 100.
    CollectFailed,
    /// 8009: click-to-call: A hung up while B was being called (spec §12.3).
    CallerGaveUp {
        /// B's phone was ringing (release point 552; 553 if not yet).
        b_ringing: bool,
    },
    /// 8010: `call.max_duration_s` reached.
    MaxDuration,
    /// 8017: the callee hung up during playback.
    UserHangup,
    /// 8100..=8105: callee-side failures.
    NotExist,
    NoAnswer,
    Busy,
    Unreachable,
    PoweredOff,
    Rejected,
    /// 8106..=8111: click-to-call A-leg failures, the calling-party twins of 8100..=8105.
    CallerNotExist,
    CallerNoAnswer,
    CallerBusy,
    CallerUnreachable,
    CallerPoweredOff,
    CallerRejected,
}

impl StateCode {
    /// Every code Dialtone emits.
    pub const ALL: [StateCode; 26] = {
        use StateCode::*;
        [
            Released,
            DeveloperFrequency,
            AppFrequency,
            DisplayNumberFrequency,
            Blacklisted,
            NoPorts,
            NotConnected,
            InternalError,
            RingTimeout,
            PlayFailed,
            CollectFailed,
            MaxDuration,
            UserHangup,
            NotExist,
            NoAnswer,
            Busy,
            Unreachable,
            PoweredOff,
            Rejected,
            CallerGaveUp { b_ringing: false },
            CallerNotExist,
            CallerNoAnswer,
            CallerBusy,
            CallerUnreachable,
            CallerPoweredOff,
            CallerRejected,
        ]
    };

    /// The code with this number, if Dialtone emits it.
    pub fn from_code(code: u32) -> Option<StateCode> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    pub fn code(self) -> u32 {
        use StateCode::*;
        match self {
            Released => 0,
            DeveloperFrequency => 7001,
            AppFrequency => 7002,
            DisplayNumberFrequency => 7003,
            Blacklisted => 7004,
            NoPorts => 7109,
            InternalError => 8000,
            NotConnected => 8001,
            RingTimeout => 8003,
            PlayFailed => 8007,
            CollectFailed => 8008,
            MaxDuration => 8010,
            UserHangup => 8017,
            NotExist => 8100,
            NoAnswer => 8101,
            Busy => 8102,
            Unreachable => 8103,
            PoweredOff => 8104,
            Rejected => 8105,
            CallerGaveUp { .. } => 8009,
            CallerNotExist => 8106,
            CallerNoAnswer => 8107,
            CallerBusy => 8108,
            CallerUnreachable => 8109,
            CallerPoweredOff => 8110,
            CallerRejected => 8111,
        }
    }

    /// `stateDesc` (spec §10.2: Dialtone's texts, except code 0 which is the platform's).
    pub fn desc(self) -> &'static str {
        use StateCode::*;
        match self {
            Released => "The user releases the call.",
            DeveloperFrequency => "Developer call frequency restricted.",
            AppFrequency => "Application call frequency restricted.",
            DisplayNumberFrequency => "Display number call frequency restricted.",
            Blacklisted => "The callee is blacklisted.",
            NoPorts => "Insufficient voice ports.",
            InternalError => "Internal error.",
            NotConnected => "The user is not connected.",
            RingTimeout => "Ringing timed out.",
            PlayFailed => "Playing the voice to the user failed.",
            CollectFailed => "Digit collection failed.",
            MaxDuration => "The maximum call duration was reached.",
            UserHangup => "The user hung up.",
            NotExist => "The callee number does not exist.",
            NoAnswer => "The callee did not answer.",
            Busy => "The callee is busy.",
            Unreachable => "The callee is temporarily unreachable.",
            PoweredOff => "The callee is powered off.",
            Rejected => "The callee rejected the call or the line is suspended.",
            CallerGaveUp { .. } => "The calling party hung up before connection.",
            CallerNotExist => "The caller number does not exist.",
            CallerNoAnswer => "The caller did not answer.",
            CallerBusy => "The caller is busy.",
            CallerUnreachable => "The caller cannot be reached.",
            CallerPoweredOff => "The caller is powered off.",
            CallerRejected => "The caller rejected the call or the line is suspended.",
        }
    }

    /// The CDR's `ulFailReason`: the stateCode, except where the spec names another release
    /// point (8008: 100, "no digits received", spec §11.5).
    pub fn fail_reason(self) -> u32 {
        match self {
            StateCode::CollectFailed => 100,
            StateCode::CallerGaveUp { b_ringing: true } => 552,
            StateCode::CallerGaveUp { b_ringing: false } => 553,
            other => other.code(),
        }
    }

    /// The calling party's twin of a called-party failure (spec §12.3: A-leg failures of a
    /// click-to-call); other codes are returned unchanged.
    pub fn as_caller(self) -> StateCode {
        use StateCode::*;
        match self {
            NotExist => CallerNotExist,
            NoAnswer => CallerNoAnswer,
            Busy => CallerBusy,
            Unreachable => CallerUnreachable,
            PoweredOff => CallerPoweredOff,
            Rejected => CallerRejected,
            other => other,
        }
    }

    /// `sipStatusCode` of the failed leg; 0 for answered calls and calls never placed (spec §5.3).
    pub fn sip_status(self) -> u32 {
        use StateCode::*;
        match self {
            NotExist | CallerNotExist => 404,
            Unreachable | CallerUnreachable => 408,
            NoAnswer | PoweredOff | CallerNoAnswer | CallerPoweredOff => 480,
            Busy | CallerBusy => 486,
            RingTimeout | CallerGaveUp { .. } => 487,
            Rejected | CallerRejected => 603,
            _ => 0,
        }
    }

    /// `callOutUnaswRsn`, the Q.850 cause of the unanswered leg; 0 when not applicable (spec §10.3).
    pub fn q850(self) -> u32 {
        use StateCode::*;
        match self {
            NotExist | CallerNotExist => 1,
            Busy | CallerBusy => 17,
            Unreachable | CallerUnreachable => 18,
            NoAnswer | RingTimeout | CallerNoAnswer => 19,
            PoweredOff | CallerPoweredOff => 20,
            Rejected | CallerRejected => 21,
            _ => 0,
        }
    }
}

impl From<StateCode> for u32 {
    fn from(c: StateCode) -> u32 {
        c.code()
    }
}

#[cfg(test)]
mod tests {
    use super::StateCode::*;

    #[test]
    fn failures_pair_sip_and_q850_as_the_outcome_table_says() {
        assert_eq!(
            (Busy.code(), Busy.sip_status(), Busy.q850()),
            (8102, 486, 17)
        );
        assert_eq!((RingTimeout.sip_status(), RingTimeout.q850()), (487, 19));
        assert_eq!((Rejected.sip_status(), Rejected.q850()), (603, 21));
        assert_eq!((Released.sip_status(), Released.q850()), (0, 0));
        assert_eq!((Blacklisted.sip_status(), Blacklisted.q850()), (0, 0));
        assert_eq!(serde_json::to_string(&PoweredOff).unwrap(), "8104");
    }
}
