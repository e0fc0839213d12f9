//! Token buckets for `max_updates_per_second` and `max_creates_per_minute`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket of capacity `rate` refilled at `rate` per `per`; `None` rate means unlimited.
#[derive(Debug)]
pub struct TokenBucket {
    rate: Option<f64>,
    per: Duration,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A bucket allowing `rate` events per `per` (unlimited when `None` or 0).
    pub fn new(rate: Option<u64>, per: Duration) -> Self {
        let rate = rate.filter(|&r| r > 0).map(|r| r as f64);
        TokenBucket {
            rate,
            per,
            state: Mutex::new((rate.unwrap_or(0.0), Instant::now())),
        }
    }

    fn refill(&self, st: &mut (f64, Instant), rate: f64) {
        let now = Instant::now();
        let add = now.duration_since(st.1).as_secs_f64() / self.per.as_secs_f64() * rate;
        st.0 = (st.0 + add).min(rate);
        st.1 = now;
    }

    /// Takes a token if one is available.
    pub fn try_take(&self) -> bool {
        let Some(rate) = self.rate else { return true };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(&mut st, rate);
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Returns a token taken for an event that did not happen.
    pub fn give_back(&self) {
        let Some(rate) = self.rate else { return };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 = (st.0 + 1.0).min(rate);
    }

    /// Takes a token, sleeping the calling thread until one is available.
    pub fn take_blocking(&self) {
        let Some(rate) = self.rate else { return };
        loop {
            let wait = {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                self.refill(&mut st, rate);
                if st.0 >= 1.0 {
                    st.0 -= 1.0;
                    return;
                }
                self.per.mul_f64((1.0 - st.0) / rate)
            };
            std::thread::sleep(wait.max(Duration::from_micros(100)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_holds_capacity_tokens() {
        let b = TokenBucket::new(Some(3), Duration::from_secs(3600));
        assert!(b.try_take() && b.try_take() && b.try_take());
        assert!(!b.try_take());
        b.give_back();
        assert!(b.try_take());
        assert!(!b.try_take());
        let free = TokenBucket::new(None, Duration::from_secs(1));
        assert!((0..1000).all(|_| free.try_take()));
    }
}
