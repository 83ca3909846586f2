//! The CI/CD API (`/api/sn_cicd/`): long-running operations — a plugin's
//! activation, an application's install — and how to wait for them.
//!
//! Every operation answers its start with a progress id and is then read at
//! `GET /api/sn_cicd/progress/{id}` until it ends. Since Tokyo operations queue
//! behind an instance lock, for up to 48 hours by default: a [`CicdOperation`]
//! waits with a deadline and backoff, and tells "still queued, not failed"
//! ([`Error::StillQueued`]) from "ran out of time while running"
//! ([`Error::DeadlineExceeded`]). A 405 from any CI/CD path means the feature
//! itself is inactive ([`CICD_INACTIVE_HINT`]). The operations themselves are
//! started from [`plugins`](crate::plugins) and
//! [`applications`](crate::applications).

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::table::decode_result;
use crate::{Request, Response};

/// The state of a CI/CD operation (`result.status`, sent as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressStatus {
    /// `"0"`
    Pending,
    /// `"1"`
    Running,
    /// `"2"`
    Successful,
    /// `"3"`
    Failed,
    /// `"4"`
    Canceled,
}

impl ProgressStatus {
    /// Reads the wire value.
    pub fn from_wire(raw: &str) -> Option<Self> {
        Some(match raw.trim() {
            "0" => Self::Pending,
            "1" => Self::Running,
            "2" => Self::Successful,
            "3" => Self::Failed,
            "4" => Self::Canceled,
            _ => return None,
        })
    }

    /// Whether the operation has ended (successfully or not).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Successful | Self::Failed | Self::Canceled)
    }

    /// Whether it ended successfully.
    pub fn is_successful(self) -> bool {
        self == Self::Successful
    }
}

impl fmt::Display for ProgressStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
        })
    }
}

impl<'de> Deserialize<'de> for ProgressStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = bpsn_core::wire::string_number::deserialize::<u8, D>(d)?;
        Self::from_wire(&raw.to_string()).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown CI/CD status {raw:?} (expected 0 to 4)"))
        })
    }
}

/// One reading of a CI/CD operation's progress.
#[derive(Debug, Clone, Deserialize)]
pub struct Progress {
    /// The state.
    pub status: ProgressStatus,
    /// The state's label (`Running`).
    #[serde(default)]
    pub status_label: String,
    /// The status message.
    #[serde(default)]
    pub status_message: String,
    /// The status detail.
    #[serde(default)]
    pub status_detail: String,
    /// The error text, on failure.
    #[serde(default)]
    pub error: String,
    /// Percent complete, 0 to 100 (0 when the instance did not say).
    #[serde(default, deserialize_with = "percent")]
    pub percent_complete: u8,
}

/// Reads a percentage sent as a number or a string, possibly fractional.
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let value: Option<f64> = bpsn_core::wire::string_number::option::deserialize(d)?;
    Ok(value.unwrap_or(0.0).clamp(0.0, 100.0).round() as u8)
}

impl Progress {
    fn describe(&self) -> String {
        format!("{} {}%", self.status, self.percent_complete)
    }
}

#[derive(Deserialize)]
pub(crate) struct StartResult {
    #[serde(default)]
    pub(crate) links: Option<StartLinks>,
    #[serde(flatten)]
    pub(crate) progress: Progress,
}

#[derive(Deserialize)]
pub(crate) struct StartLinks {
    pub(crate) progress: ProgressLink,
}

#[derive(Deserialize)]
pub(crate) struct ProgressLink {
    pub(crate) id: String,
}

/// How to wait for a CI/CD operation: a deadline and a polling backoff. Start from
/// [`WaitOptions::default`] (or [`fast`](WaitOptions::fast)) and set what differs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up after this long (default 30 minutes: since Tokyo, operations queue
    /// behind an instance lock).
    pub deadline: Duration,
    /// The first polling interval (default 1 s).
    pub initial_interval: Duration,
    /// The longest polling interval (default 15 s); each poll waits 1.5 times longer.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30 * 60),
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
        }
    }
}

impl WaitOptions {
    /// Sets the deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the first polling interval.
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// Sets the longest polling interval.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Fast polling for tests and local fakes.
    pub fn fast() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
        }
    }
}

/// What a 405 from any `/api/sn_cicd/` path means.
pub const CICD_INACTIVE_HINT: &str = "the CI/CD API is inactive on this instance: activate the plugin com.glide.continuousdelivery (Continuous Integration and Continuous Delivery), or activate the plugins by hand in System Definition > Plugins";

/// A 405 from the CI/CD API means the feature itself is inactive.
pub(crate) fn cicd_error(error: Error) -> Error {
    match error {
        Error::Api(api) if api.status == 405 => Error::EndpointUnavailable {
            request: api.request,
            status: 405,
            hint: Some(CICD_INACTIVE_HINT.to_owned()),
        },
        other => other,
    }
}

fn check_progress_id(id: &str, response: &Response) -> Result<()> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(response.protocol_error(format!("the progress id {id:?} is not an id")))
    }
}

/// Sends a request that starts a CI/CD operation and reads its progress id.
/// `operation` names it for errors (`activation of com.sn_openframe`).
pub(crate) async fn start(
    client: &Client,
    request: Request,
    operation: String,
) -> Result<CicdOperation> {
    let response = client
        .transport()
        .send(request.api("sn_cicd"))
        .await
        .map_err(cicd_error)?;
    let start: StartResult = decode_result(&response)?;
    let progress_id = start.links.map(|l| l.progress.id).ok_or_else(|| {
        response.protocol_error("the CI/CD answer has no result.links.progress.id")
    })?;
    check_progress_id(&progress_id, &response)?;
    Ok(CicdOperation {
        client: client.clone(),
        operation,
        progress_id: Some(progress_id),
        started: Some(start.progress),
    })
}

/// A started CI/CD operation (or one found unnecessary, so never started): a
/// plugin's [activation](crate::plugins::Plugins::activate) or an application's
/// [install](crate::applications::Applications::install).
#[derive(Debug, Clone)]
pub struct CicdOperation {
    client: Client,
    operation: String,
    progress_id: Option<String>,
    started: Option<Progress>,
}

impl CicdOperation {
    /// An operation that did not need starting (the plugin is active, the
    /// application installed at the version): waiting for it succeeds at once.
    pub(crate) fn unnecessary(client: &Client, operation: String) -> Self {
        Self {
            client: client.clone(),
            operation,
            progress_id: None,
            started: None,
        }
    }

    /// What the operation does (`activation of com.sn_openframe`).
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The CI/CD progress id, when the operation was started.
    pub fn progress_id(&self) -> Option<&str> {
        self.progress_id.as_deref()
    }

    /// Whether nothing needed doing, so nothing was started.
    pub fn is_unnecessary(&self) -> bool {
        self.progress_id.is_none()
    }

    /// The progress the starting request answered with.
    pub fn initial_progress(&self) -> Option<&Progress> {
        self.started.as_ref()
    }

    /// Reads the progress once.
    pub async fn poll(&self) -> Result<Progress> {
        let Some(id) = &self.progress_id else {
            return Ok(already_done());
        };
        let response = self
            .client
            .transport()
            .send(
                Request::get(format!(
                    "/api/sn_cicd/progress/{}",
                    bpsn_core::transport::path_segment(id)?
                ))
                .api("sn_cicd"),
            )
            .await
            .map_err(cicd_error)?;
        decode_result::<Progress>(&response)
    }

    /// Polls until the operation ends or the deadline passes, calling
    /// `on_progress` with each reading. Succeeds with the final progress;
    /// [`Error::OperationFailed`] on Failed or Canceled (with the server's status
    /// text from `result.error`, else `result.status_message`);
    /// [`Error::StillQueued`] when time runs out while the operation is still
    /// pending (queued behind an instance lock: not failed, it keeps running), and
    /// [`Error::DeadlineExceeded`] when it runs out while the operation runs. A 405
    /// from the CI/CD API is [`Error::EndpointUnavailable`] naming
    /// [`CICD_INACTIVE_HINT`].
    pub async fn wait(
        &self,
        options: &WaitOptions,
        mut on_progress: impl FnMut(&Progress) + Send,
    ) -> Result<Progress> {
        let started = Instant::now();
        let mut interval = options.initial_interval;
        loop {
            let progress = self.poll().await?;
            on_progress(&progress);
            match progress.status {
                ProgressStatus::Successful => return Ok(progress),
                ProgressStatus::Failed | ProgressStatus::Canceled => {
                    // The documented place of a failure's text is `result.error`,
                    // else `result.status_message`.
                    let message = [&progress.error, &progress.status_message]
                        .into_iter()
                        .find(|m| !m.trim().is_empty())
                        .cloned();
                    let detail = Some(progress.status_detail.clone())
                        .filter(|d| !d.trim().is_empty() && Some(d) != message.as_ref());
                    return Err(Error::OperationFailed {
                        operation: self.operation.clone(),
                        state: progress.status.to_string(),
                        message,
                        detail,
                    });
                }
                ProgressStatus::Pending | ProgressStatus::Running => {}
            }
            if started.elapsed() + interval > options.deadline {
                if progress.status == ProgressStatus::Pending {
                    return Err(Error::StillQueued {
                        operation: self.operation.clone(),
                        progress_id: self.progress_id.clone().unwrap_or_default(),
                        waited: started.elapsed(),
                    });
                }
                return Err(Error::DeadlineExceeded {
                    operation: self.operation.clone(),
                    waited: started.elapsed(),
                    last_state: progress.describe(),
                });
            }
            tokio::time::sleep(interval).await;
            interval = interval.mul_f32(1.5).min(options.max_interval);
        }
    }
}

fn already_done() -> Progress {
    Progress {
        status: ProgressStatus::Successful,
        status_label: "Successful".into(),
        status_message: "nothing to do".into(),
        status_detail: String::new(),
        error: String::new(),
        percent_complete: 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_status_reads_strings_and_numbers() {
        let p: Progress = serde_json::from_str(r#"{"status":"1","percent_complete":40}"#).unwrap();
        assert_eq!(
            (p.status, p.percent_complete),
            (ProgressStatus::Running, 40)
        );
        let p: Progress =
            serde_json::from_str(r#"{"status":"1","percent_complete":"33.4"}"#).unwrap();
        assert_eq!(p.percent_complete, 33);
        let p: Progress = serde_json::from_str(r#"{"status":2,"percent_complete":"100"}"#).unwrap();
        assert_eq!(p.status, ProgressStatus::Successful);
        assert!(serde_json::from_str::<Progress>(r#"{"status":"7"}"#).is_err());
    }
}
