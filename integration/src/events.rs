//! Progress events a caller (a command-line tool, a service) can render while a
//! workflow runs.

use std::sync::Arc;

use serde::Serialize;

use crate::model::StepId;
use crate::report::Outcome;

/// Something that happened during a run. Events never carry secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A step started.
    StepStarted {
        /// The step.
        step: StepId,
        /// What it manages.
        resource: String,
    },
    /// A long step made progress (plugin activation).
    Progress {
        /// The step.
        step: StepId,
        /// Percent complete of the current item.
        percent: u8,
        /// What is in progress.
        message: String,
    },
    /// Something a person should know.
    Warning {
        /// The step.
        step: StepId,
        /// The warning.
        message: String,
    },
    /// A step finished.
    StepFinished {
        /// The step.
        step: StepId,
        /// How it ended.
        outcome: Outcome,
    },
}

/// Receives events; called from the tasks running the steps.
pub type EventHandler = Arc<dyn Fn(&Event) + Send + Sync>;
