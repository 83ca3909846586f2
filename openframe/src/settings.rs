//! The settings of one OpenFrame configuration, validated all at once.

use std::fmt;

use bpsn_core::Origin;
use serde::{Deserialize, Serialize};

use crate::desktop_url::{AgentDesktopUrl, MAX_URL_LENGTH};
use crate::size::Size;

/// The longest title or subtitle OpenFrame's client API accepts, in characters.
pub const MAX_TITLE_CHARS: usize = 256;

/// The longest configuration name accepted, in characters (the column's length).
pub const MAX_NAME_CHARS: usize = 100;

/// What an OpenFrame configuration should look like.
///
/// ```
/// use servicenow_openframe::{AgentDesktopUrl, OpenFrameSettings, Size, instance_origin, tenant_origin};
///
/// let url = AgentDesktopUrl::new(&tenant_origin("example").unwrap(), &instance_origin("dev12345").unwrap()).unwrap();
/// let mut settings = OpenFrameSettings::new("Bright Pattern", url);
/// settings.title = "Agent Desktop".into();
/// settings.size = Size::new(300, 750).unwrap();
/// settings.validate().unwrap();
///
/// settings.name.clear();
/// settings.title = "x".repeat(300);
/// let problems = settings.validate().unwrap_err();
/// assert_eq!(problems.len(), 2, "every problem at once");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFrameSettings {
    /// The configuration's name (its natural key).
    pub name: String,
    /// The title in the frame's header.
    #[serde(default)]
    pub title: String,
    /// The subtitle.
    #[serde(default)]
    pub subtitle: String,
    /// The Agent Desktop URL.
    pub url: AgentDesktopUrl,
    /// The widget's size.
    #[serde(default)]
    pub size: Size,
    /// The lowest order wins when a user has several configurations.
    #[serde(default = "default_order")]
    pub order: i64,
    /// Whether the configuration is active.
    #[serde(default = "yes")]
    pub active: bool,
    /// Whether it is the default configuration.
    #[serde(default)]
    pub default: bool,
    /// Whether the collapsed view is enabled.
    #[serde(default)]
    pub collapsed_view: bool,
    /// Whether the presence indicator is shown.
    #[serde(default)]
    pub presence_indicator: bool,
}

fn default_order() -> i64 {
    100
}

fn yes() -> bool {
    true
}

/// One problem with [`OpenFrameSettings`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsProblem {
    /// The name is empty.
    #[error("the name is empty")]
    EmptyName,
    /// The name is too long.
    #[error("the name is {chars} characters long; at most {MAX_NAME_CHARS}")]
    NameTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The name holds a character a query cannot carry.
    #[error("the name holds `^` or a line break, which ServiceNow queries cannot carry")]
    NameUnqueryable,
    /// The title or subtitle is too long.
    #[error("the {field} is {chars} characters long; OpenFrame accepts at most {MAX_TITLE_CHARS}")]
    TextTooLong {
        /// `title` or `subtitle`.
        field: &'static str,
        /// Its length in characters.
        chars: usize,
    },
    /// The title or subtitle is not plain text: it holds markup (`<`, `>`)
    /// or a control character (a line break, ESC, NUL…), which the frame's
    /// header shows as typed or not at all.
    #[error("the {field} must be plain text on one line: it holds {what}")]
    TextNotPlain {
        /// `title` or `subtitle`.
        field: &'static str,
        /// What it holds.
        what: &'static str,
    },
    /// The order is outside the column's integer range.
    #[error(
        "the order {order} is outside the integer column's range ({}..={})",
        i32::MIN,
        i32::MAX
    )]
    OrderOutOfRange {
        /// The order given.
        order: i64,
    },
    /// The URL is too long.
    #[error("the URL is {length} characters long; OpenFrame accepts at most {MAX_URL_LENGTH}")]
    UrlTooLong {
        /// Its length.
        length: usize,
    },
}

/// Every problem found by [`OpenFrameSettings::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblems(pub Vec<SettingsProblem>);

impl SettingsProblems {
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for SettingsProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid OpenFrame settings: {}", texts.join("; "))
    }
}

impl std::error::Error for SettingsProblems {}

impl OpenFrameSettings {
    /// Active settings with the default size (373 × 300) and order 100.
    pub fn new(name: impl Into<String>, url: AgentDesktopUrl) -> Self {
        Self {
            name: name.into(),
            title: String::new(),
            subtitle: String::new(),
            url,
            size: Size::DEFAULT,
            order: default_order(),
            active: true,
            default: false,
            collapsed_view: false,
            presence_indicator: false,
        }
    }

    /// Checks everything and reports every problem at once.
    pub fn validate(&self) -> Result<(), SettingsProblems> {
        let mut problems = Vec::new();
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty() {
            problems.push(SettingsProblem::EmptyName);
        } else if name_chars > MAX_NAME_CHARS {
            problems.push(SettingsProblem::NameTooLong { chars: name_chars });
        }
        if self.name.contains(['^', '\n', '\r']) {
            problems.push(SettingsProblem::NameUnqueryable);
        }
        for (field, text) in [("title", &self.title), ("subtitle", &self.subtitle)] {
            let chars = text.chars().count();
            if chars > MAX_TITLE_CHARS {
                problems.push(SettingsProblem::TextTooLong { field, chars });
            }
            if text.contains(['<', '>']) {
                problems.push(SettingsProblem::TextNotPlain {
                    field,
                    what: "markup (`<` or `>`)",
                });
            }
            if text.chars().any(char::is_control) {
                problems.push(SettingsProblem::TextNotPlain {
                    field,
                    what: "a control character (a line break, a tab, ESC, NUL…)",
                });
            }
        }
        if i32::try_from(self.order).is_err() {
            problems.push(SettingsProblem::OrderOutOfRange { order: self.order });
        }
        let length = self.url.as_str().len();
        if length > MAX_URL_LENGTH {
            problems.push(SettingsProblem::UrlTooLong { length });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsProblems(problems))
        }
    }

    /// The origins this configuration implies on the ServiceNow side.
    pub fn implied_origins(&self) -> ImpliedOrigins {
        ImpliedOrigins {
            cors_domain: self.url.tenant().clone(),
            allow_list_entry: self.url.tenant().clone(),
        }
    }
}

/// The origins an OpenFrame configuration needs the instance to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpliedOrigins {
    /// The domain of the CORS rule: the tenant origin.
    pub cors_domain: Origin,
    /// The entry of the postMessage allow-list property: the tenant origin.
    pub allow_list_entry: Origin,
}
