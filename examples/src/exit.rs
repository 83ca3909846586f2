//! The exit codes of the tool, and the one place that turns an error into
//! one: 0 ok, 1 runtime failure, 2 usage or configuration error (nothing
//! written), 3 a failure found, 4 waiting for a person, 5 another run holds the
//! integration, 6 (`plan --detailed-exitcode`) changes pending.

use brightpattern_servicenow::{ApplyError, Status, WorkflowError};

/// Exit code: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: a runtime failure (a request failed, a step failed).
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code: a usage or configuration error.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: verify (or apply's proofs) found a failure.
pub(crate) const EXIT_PROBLEMS: u8 = 3;
/// Exit code: nothing failed, but something waits for a person (a manual step,
/// or a check that cannot be proven from here).
pub(crate) const EXIT_MANUAL: u8 = 4;

/// Exit code: another run holds the integration (nothing was written).
pub(crate) const EXIT_HELD: u8 = 5;

/// Exit code of `plan --detailed-exitcode`: apply would change something.
pub(crate) const EXIT_CHANGES: u8 = 6;

/// The exit code of a run's status.
pub(crate) fn exit_code(status: Status) -> u8 {
    match status {
        Status::Ok => EXIT_OK,
        Status::Pending => EXIT_MANUAL,
        // Failed, and anything a later version adds: never reported as ok.
        _ => EXIT_PROBLEMS,
    }
}

/// A failure that ends the program with a given exit code.
#[derive(Debug)]
pub(crate) struct Exit {
    /// The exit code.
    pub(crate) code: u8,
    /// What to print on standard error.
    pub(crate) message: String,
}

impl Exit {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }

    pub(crate) fn held(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_HELD,
            message: message.into(),
        }
    }
}

/// An error with every cause under it, one per line (the host and the reason a
/// connection failed are in the causes).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(&format!("\n  caused by: {line}"));
        }
        source = cause.source();
    }
    text
}

/// The exit of a workflow operation that failed: another run holds the
/// integration (5, "`nothing`: …"); a refusal before anything was written —
/// the preflight, a record not ours, a saved plan the instance moved away
/// from (2); anything else (1), with its causes.
pub(crate) fn from_workflow(error: &WorkflowError, nothing: &str) -> Exit {
    match error {
        WorkflowError::Held(_) => Exit::held(format!("{nothing}: {error}")),
        WorkflowError::Preflight(_) | WorkflowError::Taken(_) | WorkflowError::PlanMoved(_) => {
            Exit::usage(error.to_string())
        }
        _ => Exit::failure(chain(error)),
    }
}

/// [`from_workflow`] for apply, which may also fail part way through.
pub(crate) fn from_apply(error: &ApplyError) -> Exit {
    match error {
        ApplyError::NotStarted(WorkflowError::Held(_)) => Exit::held(error.to_string()),
        ApplyError::NotStarted(
            WorkflowError::Preflight(_) | WorkflowError::Taken(_) | WorkflowError::PlanMoved(_),
        ) => Exit::usage(error.to_string()),
        _ => Exit::failure(chain(error)),
    }
}
