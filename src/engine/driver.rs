//! How time moves the engine: the real-time driver that fires deadlines as the wall clock (or
//! a scaled one) reaches them, and manual stepping (`POST /sim/v1/clock/advance`) that moves a
//! manual clock from deadline to deadline. These and `Engine::fire_due` are the only places time
//! enters call logic.

use std::time::Duration;

use super::Engine;
use crate::clock::{sleep_real, ClockMode, SimInstant};
use crate::shutdown::Shutdown;

impl Engine {
    /// Moves a manual clock forward by `by_ms`, firing every deadline on the way in order. With
    /// `settle`, waits at each step until the pushes it caused have been attempted, so what
    /// follows from a delivery (a CDR queued after the disconnect push) happens at that step's
    /// simulated time, whatever the real I/O took. Returns the new simulated time.
    pub async fn advance(&self, by_ms: u64, settle: bool) -> Result<SimInstant, ClockNotManual> {
        let clock = &self.shared.clock;
        if clock.mode() != ClockMode::Manual {
            return Err(ClockNotManual(clock.mode()));
        }
        let _one_at_a_time = self.shared.advancing.lock().await;
        let from = clock.now();
        let target = from.plus_ms(by_ms);
        self.publish_advance(from, target);
        loop {
            // Pushes already on the wire finish at the current time, and whatever follows
            // from them (a CDR queued, a retry armed) is in the queue before time moves on.
            if settle {
                self.wait_idle(self.settle_bound()).await;
            }
            let next = self.next_deadline().filter(|at| *at <= target);
            let Some(at) = next else { break };
            clock.set(at);
            self.fire_due_yielding(at).await;
        }
        clock.set(target);
        self.fire_due_yielding(target).await;
        if settle {
            self.wait_idle(self.settle_bound()).await;
        }
        Ok(target)
    }

    /// How long a settle may wait for one step's pushes: the push timeout, plus slack.
    fn settle_bound(&self) -> Duration {
        Duration::from_millis(self.shared.config.push.timeout_ms + 5000)
    }

    /// Waits until no push is on the wire, at most `bound`. Returns whether it got there.
    pub async fn wait_idle(&self, bound: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.shared.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.lock().deliveries.in_flight() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(bound, wait).await.is_ok()
    }
}

/// `advance` on a clock that is not manual.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "the clock is in {0:?} mode; only a manual clock can be advanced (start with --clock manual)"
)]
pub struct ClockNotManual(pub ClockMode);

/// Runs the engine on a real or scaled clock: sleeps until the next deadline (or until an
/// earlier one is armed), fires what is due, repeats. A manual clock needs no driver.
pub fn spawn_driver(engine: Engine, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let changed = engine.shared.timers_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let delay = engine
                .next_deadline()
                .and_then(|at| engine.shared.clock.real_delay_until(at));
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = changed => {}
                _ = sleep_real(delay.unwrap_or(Duration::from_secs(3600))) => {}
            }
            engine.fire_due_yielding(engine.shared.clock.now()).await;
        }
    })
}
