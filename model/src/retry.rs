//! When and how long to wait before retrying an HTTP request: exponential backoff with jitter,
//! `Retry-After` honoured, and a budget (attempts and total time) that ends with a clear error.

use std::time::{Duration, SystemTime};

use crate::rng::Rng;

/// The retry budget of one HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    /// Longest backoff between two attempts (without `Retry-After`).
    pub max_delay: Duration,
    /// Longest `Retry-After` wait accepted; a server asking for more ends the retries.
    pub max_retry_after: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            max_elapsed: Duration::from_secs(900),
        }
    }
}

/// Why the retries stopped, for the final error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUp {
    /// `max_attempts` reached.
    Attempts(u32),
    /// The next wait would end after `max_elapsed`.
    Elapsed(Duration),
    /// The server asked to wait longer than `max_retry_after`.
    RetryAfterTooLong(Duration),
}

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GiveUp::Attempts(n) => write!(f, "gave up after {n} attempts"),
            GiveUp::Elapsed(d) => write!(f, "gave up: retry time budget of {}s spent", d.as_secs()),
            GiveUp::RetryAfterTooLong(d) => {
                write!(
                    f,
                    "gave up: the server asked to retry after {}s, beyond the limit",
                    d.as_secs()
                )
            }
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before attempt `attempt + 1` (after `attempt` failed attempts, counting from 1),
    /// or why there is none. `elapsed` is the time since the first attempt started.
    pub fn next_delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        rng: &mut impl JitterSource,
    ) -> Result<Duration, GiveUp> {
        if attempt >= self.max_attempts {
            return Err(GiveUp::Attempts(attempt));
        }
        let delay = match retry_after {
            Some(ra) if ra > self.max_retry_after => return Err(GiveUp::RetryAfterTooLong(ra)),
            // At least what the server asked, plus up to 10% so that a storm of clients told the
            // same moment do not all come back at once.
            Some(ra) => ra + ra.mul_f64(0.1 * rng.unit()) + Duration::from_millis((50.0 * rng.unit()) as u64),
            None => {
                // "Equal jitter": half the exponential step fixed, half random.
                let exp = attempt.saturating_sub(1).min(30);
                let step = self.base_delay.saturating_mul(1u32 << exp).min(self.max_delay);
                step / 2 + step.mul_f64(0.5 * rng.unit())
            }
        };
        if elapsed + delay > self.max_elapsed {
            return Err(GiveUp::Elapsed(self.max_elapsed));
        }
        Ok(delay)
    }
}

/// A source of uniform numbers in `[0, 1)` for jitter (seeded in tests).
pub trait JitterSource {
    fn unit(&mut self) -> f64;
}

impl JitterSource for Rng {
    fn unit(&mut self) -> f64 {
        self.next_f64()
    }
}

/// A jitter source seeded from the clock (for every HTTP client of the workspace that retries).
pub fn jitter() -> impl JitterSource + Send {
    Rng::seed_from_u64(Rng::entropy_seed())
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
/// A date in the past means "now"; anything unparsable is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(1e9)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(f64);
    impl JitterSource for Fixed {
        fn unit(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(3600),
        };
        let lo = |a| p.next_delay(a, Duration::ZERO, None, &mut Fixed(0.0)).unwrap();
        let hi = |a| p.next_delay(a, Duration::ZERO, None, &mut Fixed(0.999)).unwrap();
        assert_eq!(lo(1), Duration::from_millis(50));
        assert!(hi(1) < Duration::from_millis(100) && hi(1) > Duration::from_millis(99));
        assert_eq!(lo(2), Duration::from_millis(100));
        assert_eq!(lo(3), Duration::from_millis(200));
        assert_eq!(lo(10), Duration::from_millis(500)); // capped at max_delay, half fixed
        assert!(hi(10) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        let p = RetryPolicy::default();
        let d = p
            .next_delay(1, Duration::ZERO, Some(Duration::from_secs(3)), &mut Fixed(0.0))
            .unwrap();
        assert_eq!(d, Duration::from_secs(3));
        let d = p
            .next_delay(1, Duration::ZERO, Some(Duration::from_secs(3)), &mut Fixed(0.99))
            .unwrap();
        assert!(d >= Duration::from_secs(3) && d < Duration::from_millis(3400));
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(121)), &mut Fixed(0.0)),
            Err(GiveUp::RetryAfterTooLong(Duration::from_secs(121)))
        );
    }

    #[test]
    fn budget_ends() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.next_delay(2, Duration::ZERO, None, &mut Fixed(0.5)).is_ok());
        assert_eq!(
            p.next_delay(3, Duration::ZERO, None, &mut Fixed(0.5)),
            Err(GiveUp::Attempts(3))
        );
        let p = RetryPolicy {
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.next_delay(1, Duration::from_secs(10), None, &mut Fixed(0.5)),
            Err(GiveUp::Elapsed(Duration::from_secs(10)))
        );
        assert_eq!(
            RetryPolicy::none().next_delay(1, Duration::ZERO, None, &mut Fixed(0.0)),
            Err(GiveUp::Attempts(1))
        );
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
