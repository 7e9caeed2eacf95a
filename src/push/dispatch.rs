//! Handing push attempts to the network. The engine decides *what* to send and *when* (order,
//! batching, retries, faults); a [`Dispatcher`] runs the attempts on a few worker tasks per
//! receiver, at most [`MAX_PUSHES_IN_FLIGHT`] at once and at most
//! `push.max_in_flight_per_host` to one receiver (so a burst never floods a laptop's development
//! server), and reports the result back.
//!
//! The network side is the small [`Transport`] trait: [`HttpTransport`] in production, a
//! scripted fake in the engine's delivery tests, which then run on a paused tokio clock with no
//! sockets.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

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

/// What to do with an attempt's report.
type Done = Box<dyn FnOnce(PushJob, AttemptReport) + Send>;

/// Runs attempts concurrently over a [`Transport`]: at most [`MAX_PUSHES_IN_FLIGHT`] in all, and
/// at most `per_host` to one receiver (host and port), the rest waiting their turn in the order
/// they were handed over. Cheap to clone.
///
/// Each receiver gets up to `per_host` worker tasks that take its pushes from one queue, one
/// after the other, and end when it is empty: a burst costs a few tasks, not one per push.
#[derive(Clone)]
pub struct Dispatcher {
    transport: Arc<dyn Transport>,
    slots: Arc<Semaphore>,
    per_host: usize,
    hosts: Arc<Mutex<Hosts>>,
}

#[derive(Default)]
struct Hosts {
    by_key: HashMap<String, Host>,
    /// Push URLs already seen and their receiver's key, so a URL is parsed once rather than for
    /// every push; at most [`KEYS_KEPT`], forgotten all at once when full.
    keys: HashMap<String, String>,
}

/// URLs whose receiver is remembered (an app's two URLs, or a test's receivers).
const KEYS_KEPT: usize = 1024;

/// One receiver's pushes: how many workers take them, and which wait.
#[derive(Default)]
struct Host {
    workers: usize,
    waiting: VecDeque<(PushJob, Done)>,
}

impl Dispatcher {
    /// A dispatcher allowing `per_host` pushes at once to each receiver (at least 1).
    pub fn new(transport: Arc<dyn Transport>, per_host: usize) -> Dispatcher {
        Dispatcher {
            transport,
            slots: Arc::new(Semaphore::new(MAX_PUSHES_IN_FLIGHT)),
            per_host: per_host.max(1),
            hosts: Arc::default(),
        }
    }

    /// Makes `job`'s attempt once its receiver and the whole have a slot free; `done` receives
    /// the job and its report. Must be called within a tokio runtime.
    pub fn dispatch(
        &self,
        job: PushJob,
        done: impl FnOnce(PushJob, AttemptReport) + Send + 'static,
    ) {
        let done: Done = Box::new(done);
        let mut hosts = self.lock_hosts();
        let Hosts { by_key, keys } = &mut *hosts;
        let key = match keys.get(&job.url) {
            Some(key) => key,
            None => {
                if keys.len() >= KEYS_KEPT {
                    keys.clear();
                }
                keys.entry(job.url.clone()).or_insert(receiver(&job.url))
            }
        };
        let host = match by_key.get_mut(key) {
            Some(host) => host,
            None => by_key.entry(key.clone()).or_default(),
        };
        // Queued here rather than on a semaphore, so the order is exactly this one.
        host.waiting.push_back((job, done));
        if host.workers < self.per_host {
            host.workers += 1;
            let (this, key) = (self.clone(), key.clone());
            tokio::spawn(async move { this.work(key).await });
        }
    }

    /// A worker of receiver `key`: makes its waiting attempts one at a time until none is left.
    async fn work(self, key: String) {
        while let Some((job, done)) = self.next_for(&key) {
            let report = {
                // The semaphore is never closed, so acquiring only waits for a free slot.
                let _slot = self.slots.acquire().await;
                self.transport.attempt(&job).await
            };
            done(job, report);
        }
    }

    /// The next push to `key`, or `None` when none waits (this worker then ends).
    fn next_for(&self, key: &str) -> Option<(PushJob, Done)> {
        let mut hosts = self.lock_hosts();
        let host = hosts.by_key.get_mut(key)?;
        let next = host.waiting.pop_front();
        if next.is_none() {
            host.workers -= 1;
            if host.workers == 0 {
                hosts.by_key.remove(key);
            }
        }
        next
    }

    fn lock_hosts(&self) -> std::sync::MutexGuard<'_, Hosts> {
        // Plain counters and queues: a panic elsewhere leaves them usable.
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The receiver a push goes to: its URL's host and port (the scheme's default when none is
/// written), or the whole URL if it does not parse.
fn receiver(url: &str) -> String {
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        return url.to_owned();
    };
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    format!("{}:{port}", uri.host().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Takes 10 ms (on tokio's paused clock) over each attempt and notes the order of starts.
    #[derive(Default)]
    struct Slow {
        started: Mutex<Vec<String>>,
    }

    impl Transport for Slow {
        fn attempt<'a>(
            &'a self,
            job: &'a PushJob,
        ) -> Pin<Box<dyn Future<Output = AttemptReport> + Send + 'a>> {
            Box::pin(async move {
                self.started
                    .lock()
                    .expect("not poisoned")
                    .push(job.delivery_id.clone());
                #[allow(clippy::disallowed_methods)]
                // a receiver taking its time, on the paused clock.
                tokio::time::sleep(Duration::from_millis(10)).await;
                AttemptReport {
                    request_headers: Vec::new(),
                    response_status: Some(200),
                    response_body: None,
                    error: None,
                    latency_ms: 10,
                    fault: None,
                }
            })
        }
    }

    /// Named after its receiver and its place in the order of hand-over.
    fn job(url: &str, n: u32) -> PushJob {
        PushJob {
            delivery_id: format!("{url}#{n}"),
            ..crate::push::transport::test_job(url, n)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pushes_waiting_for_their_receiver_go_in_the_order_they_were_handed_over() {
        let slow = Arc::new(Slow::default());
        let dispatcher = Dispatcher::new(slow.clone(), 2);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Same host and port however written; another receiver is not held up by this one.
        let urls = [
            "http://a.test/status",
            "http://a.test:80/fee",
            "http://b.test/x",
        ];
        let start = tokio::time::Instant::now();
        for n in 0..9 {
            let tx = tx.clone();
            dispatcher.dispatch(job(urls[n as usize % 3], n), move |job, _| {
                let _ = tx.send(job.delivery_id);
            });
        }
        for _ in 0..9 {
            rx.recv().await.expect("every push finishes");
        }
        let started = slow.started.lock().expect("not poisoned").clone();
        let to_a: Vec<_> = started.iter().filter(|d| d.contains("a.test")).collect();
        let order: Vec<u32> = to_a
            .iter()
            .filter_map(|d| d.rsplit('#').next()?.parse().ok())
            .collect();
        assert_eq!(order, [0, 1, 3, 4, 6, 7]);
        // Three waves of two to a.test, 10 ms each; b.test's three went beside them.
        assert_eq!(start.elapsed(), Duration::from_millis(30));
    }
}
