//! Where a run's configuration writes land on a change-managed instance.
//!
//! ServiceNow captures configuration changes (OpenFrame configurations, CORS
//! rules, OAuth applications, properties) in the writing user's *current*
//! update set, which moves them to other instances. The tool's own rows are
//! private and never captured; role grants are data and never captured.
//!
//! - Without `[servicenow] update_set`, the writes land in the administrator's
//!   current update set: plan and the reports name it when it can be read.
//! - With `update_set = "NAME"`, a writing run makes that set (in progress)
//!   the administrator's current one for the run, creating it when no set has
//!   the name, and puts the previous choice back afterwards, even when the run
//!   fails. A set of that name that is complete or ignored, several in
//!   progress, or credentials that name no user are refused by the preflight.
//!
//! Which set is current is recorded by the `sys_update_set` user preference —
//! not documented in what this project could read. So nothing is assumed:
//! before the writes, the set's captured changes are read; afterwards they are
//! read again, and when the run wrote configuration and none of it shows there
//! the proof fails ([`Switch::finish`]).
//!
//! A switch is recorded in the ledger before the preference is written: a run
//! stopped before it could put the choice back leaves the record, and the next
//! writing run puts it back ([`recover`]) — only if the preference still names
//! the set the switch chose.

use std::collections::HashMap;

use servicenow_client::Error;
use servicenow_client::update_sets::{PreviousPreference, Restored, UpdateSet, UserPreference};
use servicenow_client::wire::SysId;

use crate::ledger::UpdateSetSwitch;
use crate::model::PreflightProblem;
use crate::report::{Check, UpdateSetChoice, UpdateSetUse};
use crate::step::Context;

const DESCRIPTION: &str = "Configuration written by bp-servicenow (Bright Pattern Agent Desktop in OpenFrame), to review, export and promote.";

/// The administrator's `sys_user` sys_id, when the credentials name a user the
/// instance shows.
async fn administrator(ctx: &Context) -> Result<Option<SysId>, Error> {
    let Some(user) = ctx.servicenow.username() else {
        return Ok(None);
    };
    Ok(ctx
        .servicenow
        .users()
        .get_by_user_name(user)
        .await?
        .map(|u| u.sys_id))
}

/// The sets with the spec's name: the one in progress, or a problem.
fn pick(name: &str, named: Vec<UpdateSet>) -> Result<Option<UpdateSet>, PreflightProblem> {
    let total = named.len();
    let mut open: Vec<UpdateSet> = named
        .into_iter()
        .filter(|s| s.state.is_in_progress())
        .collect();
    match (open.len(), total) {
        (0, 0) => Ok(None),
        (1, _) => Ok(open.pop()),
        (0, _) => Err(PreflightProblem::UpdateSetClosed {
            name: name.to_owned(),
        }),
        (n, _) => Err(PreflightProblem::UpdateSetAmbiguous {
            name: name.to_owned(),
            in_progress: n,
        }),
    }
}

/// What the preflight finds wrong with `[servicenow] update_set` (nothing
/// when the spec names none).
pub(crate) async fn preflight(ctx: &Context) -> Result<Vec<PreflightProblem>, Error> {
    let Some(name) = &ctx.spec.update_set else {
        return Ok(Vec::new());
    };
    if ctx.servicenow.username().is_none() {
        return Ok(vec![PreflightProblem::UpdateSetNeedsUser {
            name: name.clone(),
            method: ctx.servicenow.credentials_method().to_string(),
        }]);
    }
    let named = ctx.servicenow.update_sets().named(name).await?;
    Ok(pick(name, named).err().into_iter().collect())
}

/// Where the writes of a run would land, for a plan: the spec's set (to be
/// created when missing), or the administrator's current one; `None` when it
/// cannot be known (credentials that name no user, a user the instance does
/// not show).
pub(crate) async fn planned(ctx: &Context) -> Result<Option<UpdateSetUse>, Error> {
    let sets = ctx.servicenow.update_sets();
    if let Some(name) = &ctx.spec.update_set {
        let found = match pick(name, sets.named(name).await?) {
            Ok(found) => found,
            Err(_) => return Ok(None), // the plan's refusals say why
        };
        return Ok(Some(UpdateSetUse {
            name: name.clone(),
            created: found.is_none(),
            sys_id: found.map(|s| s.sys_id),
            chosen_by: UpdateSetChoice::Spec,
            proven: None,
        }));
    }
    let Some(admin) = administrator(ctx).await? else {
        return Ok(None);
    };
    Ok(current_use(&sets.current(&admin).await?))
}

fn current_use(current: &servicenow_client::update_sets::CurrentUpdateSet) -> Option<UpdateSetUse> {
    use servicenow_client::update_sets::CurrentSource;
    current.update_set.as_ref().map(|set| UpdateSetUse {
        name: set.name.clone(),
        sys_id: Some(set.sys_id.clone()),
        chosen_by: match current.source {
            CurrentSource::Preference => UpdateSetChoice::Current,
            _ => UpdateSetChoice::Default,
        },
        created: false,
        proven: None,
    })
}

/// How many of the administrator's latest captured changes a snapshot reads:
/// one bounded request, however large the set.
const SNAPSHOT: u32 = 200;

/// The administrator's latest changes in an update set, by record: how often
/// each was updated. A run's writes show as rows that are new or counted
/// again since the snapshot before it.
async fn snapshot(ctx: &Context, set: &SysId) -> Result<HashMap<SysId, u64>, Error> {
    let Some(user) = ctx.servicenow.username() else {
        return Ok(HashMap::new());
    };
    Ok(ctx
        .servicenow
        .update_sets()
        .recently_captured(set, user, SNAPSHOT)
        .await?
        .into_iter()
        .map(|c| (c.sys_id, c.sys_mod_count))
        .collect())
}

/// A run's use of an update set: made current for the run (when the spec
/// names one), and read before and after to prove the capture.
#[derive(Debug)]
pub(crate) struct Switch {
    use_: UpdateSetUse,
    set: SysId,
    before: HashMap<SysId, u64>,
    /// The preference row the switch wrote, and what it held before.
    chosen: Option<(UserPreference, PreviousPreference)>,
}

impl Switch {
    /// Prepares the run's update set before its first configuration write:
    /// finds or creates the spec's set, records the switch in the ledger
    /// (saved), then makes the set the administrator's current one. Without
    /// `update_set` only the current set is read. `Ok(None)`: the set cannot
    /// be known (no user), nothing to prove.
    pub(crate) async fn begin(ctx: &Context) -> Result<Option<Switch>, Error> {
        let Some(admin) = administrator(ctx).await? else {
            return Ok(None);
        };
        let sets = ctx.servicenow.update_sets();
        let current = sets.current(&admin).await?;
        let Some(name) = &ctx.spec.update_set else {
            let Some(use_) = current_use(&current) else {
                return Ok(None);
            };
            let Some(set) = use_.sys_id.clone() else {
                return Ok(None);
            };
            return Ok(Some(Switch {
                before: snapshot(ctx, &set).await?,
                use_,
                set,
                chosen: None,
            }));
        };
        let (set, created) = match pick(name, sets.named(name).await?) {
            Ok(Some(set)) => (set, false),
            Ok(None) => (sets.create(name, DESCRIPTION).await?, true),
            Err(problem) => {
                return Err(servicenow_client::error::InvalidInput::new(
                    "[servicenow] update_set",
                    problem.to_string(),
                )
                .into());
            }
        };
        let before = snapshot(ctx, &set.sys_id).await?;
        let use_ = UpdateSetUse {
            name: set.name.clone(),
            sys_id: Some(set.sys_id.clone()),
            chosen_by: UpdateSetChoice::Spec,
            created,
            proven: None,
        };
        let already = current
            .update_set
            .as_ref()
            .is_some_and(|c| c.sys_id == set.sys_id)
            && current.preference.is_some();
        if already {
            return Ok(Some(Switch {
                use_,
                set: set.sys_id,
                before,
                chosen: None,
            }));
        }
        let previous = current.preference_value();
        ctx.record(|l| {
            l.update_set_switch = Some(UpdateSetSwitch {
                user: admin.clone(),
                update_set: set.sys_id.clone(),
                previous: previous.clone(),
            });
        })
        .await;
        ctx.save_ledger().await?;
        let chosen = sets
            .choose(&admin, &set.sys_id, current.preference.as_ref())
            .await?;
        Ok(Some(Switch {
            use_,
            set: set.sys_id,
            before,
            chosen: Some((chosen, previous)),
        }))
    }

    /// Ends the run's use of the set: puts the administrator's previous choice
    /// back (the ledger's record of the switch is cleared once it is), reads
    /// the captured changes again and, when `wrote_configuration`, proves that
    /// some landed there. Gives the use for the report's footprint, the proof
    /// (when there was something to prove) and notes for people.
    pub(crate) async fn finish(
        self,
        ctx: &Context,
        wrote_configuration: bool,
    ) -> (UpdateSetUse, Option<Check>, Vec<String>) {
        let mut notes = Vec::new();
        let Switch {
            mut use_,
            set,
            before,
            chosen,
        } = self;
        let proof = if wrote_configuration {
            let name = format!(
                "update set {:?}: holds this run's configuration changes",
                use_.name
            );
            match snapshot(ctx, &set).await {
                Ok(after) => {
                    let landed = after
                        .iter()
                        .filter(|(id, count)| before.get(*id) != Some(*count))
                        .count();
                    use_.proven = Some(landed > 0);
                    Some(
                        Check::when(
                            landed > 0,
                            name,
                            format!("{landed} captured change(s) read back in {:?}", use_.name),
                            "the configuration writes were not captured there: the instance did not take the update set choice (the sys_update_set preference is not documented); look for them in the administrator's current update set, and move them before promoting",
                        )
                        .by_effect(),
                    )
                }
                Err(e) => Some(
                    Check::pending(
                        name,
                        format!("the captured changes could not be read: {e}"),
                        "read them in System Update Sets > Local Update Sets",
                    )
                    .by_effect(),
                ),
            }
        } else {
            None
        };
        if let Some((chosen, previous)) = chosen {
            match ctx
                .servicenow
                .update_sets()
                .restore(&chosen, &previous)
                .await
            {
                Ok(restored) => {
                    if let Restored::ChangedSince { now } = restored {
                        notes.push(format!(
                            "the administrator's update set choice changed during the run (it names {now:?} now): kept as it is"
                        ));
                    }
                    ctx.record(|l| l.update_set_switch = None).await;
                    if let Err(e) = ctx.save_ledger().await {
                        notes.push(format!(
                            "the ledger could not record that the update set choice is back ({e}); the next writing run checks it again"
                        ));
                    }
                }
                Err(e) => notes.push(format!(
                    "the administrator's previous update set choice could not be put back ({e}); the ledger keeps it, and the next writing run puts it back"
                )),
            }
        }
        (use_, proof, notes)
    }
}

/// Puts back the administrator's update set choice that a stopped run left
/// switched (the ledger's record says so), when the preference still names
/// the set that run chose. Gives a note for the report, when it did anything.
pub(crate) async fn recover(ctx: &Context) -> Result<Option<String>, Error> {
    let Some(switch) = ctx.ledger().await.update_set_switch else {
        return Ok(None);
    };
    let sets = ctx.servicenow.update_sets();
    let note = match sets.preference(&switch.user).await? {
        Some(row) if row.value == switch.update_set.as_str() => {
            sets.restore(&row, &switch.previous).await?;
            "put back the administrator's update set choice that a stopped run had switched"
        }
        _ => {
            "a stopped run's update set switch was already undone (or changed by a person): left as it is"
        }
    };
    ctx.record(|l| l.update_set_switch = None).await;
    ctx.save_ledger().await?;
    Ok(Some(note.to_owned()))
}
