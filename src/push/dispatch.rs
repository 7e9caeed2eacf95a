//! Handing push attempts to the network. The engine decides *what* to send and *when* (order,
//! batching, retries, faults); a [`Dispatcher`] runs each attempt on a task of its own, at most
//! [`MAX_PUSHES_IN_FLIGHT`] at once, and reports the result back.
//!
//! The network side is the small [`Transport`] trait: [`HttpTransport`] in production, a
//! scripted fake in the engine's delivery tests, which then run on a paused tokio clock with no
//! sockets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::transport::{AttemptReport, HttpTransport, PushJob};

/// At most this many pushes are on the wire at once; the rest wait for a slot.
pub const MAX_PUSHES_IN_FLIGHT: usize = 256;

/// Makes one push attempt. Never fails: what went wrong is in the report.
pub trait Transport: Send + Sync + 'static {
    fn attempt<'a>(
        &'a self,
        job: &'a PushJob,
    ) -> Pin<Box<dyn Future<Output = AttemptReport> + Send + 'a>>;
}

impl Transport for HttpTransport {
    fn attempt<'a>(
        &'a self,
        job: &'a PushJob,
    ) -> Pin<Box<dyn Future<Output = AttemptReport> + Send + 'a>> {
        Box::pin(HttpTransport::attempt(self, job))
    }
}

/// Runs attempts concurrently over a [`Transport`]. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    transport: Arc<dyn Transport>,
    slots: Arc<Semaphore>,
}

impl Dispatcher {
    pub fn new(transport: Arc<dyn Transport>) -> Dispatcher {
        Dispatcher {
            transport,
            slots: Arc::new(Semaphore::new(MAX_PUSHES_IN_FLIGHT)),
        }
    }

    /// Makes `job`'s attempt on a task of its own, once a slot is free; `done` receives the
    /// job and its report. Must be called within a tokio runtime.
    pub fn dispatch(
        &self,
        job: PushJob,
        done: impl FnOnce(PushJob, AttemptReport) + Send + 'static,
    ) {
        let transport = self.transport.clone();
        let slots = self.slots.clone();
        tokio::spawn(async move {
            // The semaphore is never closed, so acquiring only waits for a free slot.
            let _slot = slots.acquire_owned().await;
            let report = transport.attempt(&job).await;
            done(job, report);
        });
    }
}
