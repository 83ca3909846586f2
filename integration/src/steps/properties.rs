//! Extra system properties (`[[properties]]`): kept at the configured value —
//! created when missing (and deleted by teardown), or adopted when present (the
//! previous value recorded first, and put back by teardown). A value the
//! instance's type of the property cannot hold (`true | false`, `integer`) is
//! refused before anything is written. This is how an administrator following
//! the vendor's 5.8 procedure supplies its properties, which the SDK cannot know.
//!
//! A property created here gets `ignore_cache = true`; the flags of an adopted
//! one (`ignore_cache`, `is_private`) are never changed: only its value is.

use async_trait::async_trait;
use servicenow_client::properties::SystemProperty;
use servicenow_client::wire::SysId;

use crate::ledger::Adopted;
use crate::ownership::{self, Found, RecordKind, Recorded};
use crate::report::{Check, Removal, RemovalOutcome};
use crate::spec::PropertyEntry;
use crate::step::{
    Action, Applied, Change, Context, Damaged, FieldChange, Repaired, RoleNeed, Step, StepError,
    StepId, StepResult, Upstream,
};

/// The step's id.
pub const ID: &str = "properties";

/// Keeps the `[[properties]]` of the spec.
#[derive(Debug, Clone, Copy, Default)]
pub struct PropertiesStep;

/// Each configured property and the record with its name, if any.
#[derive(Debug, Clone)]
pub struct PropertiesState {
    found: Vec<(PropertyEntry, Option<SystemProperty>)>,
    ledger: Section,
}

/// What the ledger keeps: properties created (name → sys_id) and adopted
/// (name → sys_id and previous value).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Section {
    #[serde(default)]
    created: std::collections::BTreeMap<String, SysId>,
    #[serde(default)]
    adopted: std::collections::BTreeMap<String, (SysId, String)>,
}

/// The step's record in the ledger (empty when it has none; a record that
/// does not read fails rather than being taken for empty).
async fn section(ctx: &Context) -> StepResult<Section> {
    Ok(ctx
        .step_record(&StepId::custom(ID))
        .await?
        .unwrap_or_default())
}

/// System properties, for the ownership protocol's undo.
struct Properties;

#[async_trait]
impl RecordKind for Properties {
    fn kind(&self) -> &'static str {
        "system property"
    }

    fn resource(&self, name: &str) -> String {
        format!("system property {name}")
    }

    async fn read(&self, ctx: &Context, id: &SysId) -> servicenow_client::Result<Option<Found>> {
        let table = ctx.servicenow.table::<SystemProperty>();
        Ok(table.find(id).await?.map(|p| Found {
            name: p.name,
            unproven: None,
        }))
    }

    async fn find(&self, ctx: &Context, name: &str) -> servicenow_client::Result<Option<SysId>> {
        Ok(ctx
            .servicenow
            .properties()
            .get(name)
            .await?
            .map(|p| p.sys_id))
    }

    async fn delete(&self, ctx: &Context, id: &SysId) -> servicenow_client::Result<()> {
        ctx.servicenow.table::<SystemProperty>().delete(id).await
    }

    async fn restore(
        &self,
        ctx: &Context,
        id: &SysId,
        previous: &std::collections::BTreeMap<String, String>,
    ) -> servicenow_client::Result<()> {
        let table = ctx.servicenow.table::<SystemProperty>();
        table.update(id, previous).await.map(drop)
    }
}

/// The configured properties whose value the instance's type refuses.
fn misfits(state: &PropertiesState) -> Vec<String> {
    state
        .found
        .iter()
        .filter_map(|(entry, record)| {
            let kind = record
                .as_ref()
                .map(|r| r.property_type.as_str())
                .or(entry.property_type.as_deref())?;
            let choices = record.as_ref().map_or("", |r| r.choices.as_str());
            crate::spec::property_misfit(kind, choices, &entry.value)
                .map(|why| format!("{} ({kind}): {why}", entry.name))
        })
        .collect()
}

#[async_trait]
impl Step for PropertiesStep {
    type State = PropertiesState;

    fn id(&self) -> StepId {
        StepId::custom(ID)
    }

    fn writes_configuration(&self) -> bool {
        true
    }

    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::PLUGINS]
    }

    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        vec![RoleNeed::admin("system properties (sys_properties)")]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!("{} system properties", ctx.spec.properties.len())
    }

    async fn observe(&self, ctx: &Context) -> StepResult<PropertiesState> {
        let properties = ctx.servicenow.properties();
        let found = futures_util::future::try_join_all(ctx.spec.properties.iter().map(|entry| {
            let properties = properties.clone();
            async move {
                let record = properties.get(&entry.name).await?;
                Ok::<_, servicenow_client::Error>((entry.clone(), record))
            }
        }))
        .await?;
        Ok(PropertiesState {
            found,
            ledger: section(ctx).await?,
        })
    }

    fn change(&self, _ctx: &Context, state: &PropertiesState, _upstream: &Upstream) -> Change {
        let mut changes = Vec::new();
        let mut creates = false;
        let mut adopts = false;
        for (entry, record) in &state.found {
            match record {
                None => {
                    creates = true;
                    changes.push(FieldChange::new(&entry.name, None, &entry.value));
                }
                Some(r) if r.value != entry.value => {
                    adopts |= !state.ledger.created.contains_key(&entry.name)
                        && !state.ledger.adopted.contains_key(&entry.name);
                    changes.push(FieldChange::new(
                        &entry.name,
                        Some(r.value.clone()),
                        &entry.value,
                    ));
                }
                Some(_) => {}
            }
        }
        let mut change = match (changes.is_empty(), adopts, creates) {
            (true, _, _) => Change::unchanged(),
            (false, true, _) => Change::of(Action::Adopt, changes),
            (false, false, true) => Change::of(Action::Create, changes),
            (false, false, false) => Change::of(Action::Update, changes),
        };
        change.warnings.extend(
            misfits(state)
                .into_iter()
                .map(|m| format!("the instance's type refuses it: {m}")),
        );
        if adopts {
            change.warnings.push(
                "adopting existing properties: their previous values are recorded, and teardown restores them".to_owned(),
            );
        }
        change
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: PropertiesState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let refused = misfits(&state);
        if !refused.is_empty() {
            return Err(StepError::Rejected {
                what: "setting system properties".into(),
                reason: refused.join("; "),
                hint: "fix the values in [[properties]]; nothing was written".into(),
            });
        }
        let id = StepId::custom(ID);
        let table = ctx.servicenow.table::<SystemProperty>();
        let mut ledger = state.ledger.clone();
        let mut done = Vec::new();
        for (entry, record) in &state.found {
            match record {
                None => {
                    let sys_id = SysId::generate();
                    ledger.created.insert(entry.name.clone(), sys_id.clone());
                    ctx.reserve_step_record(&id, &ledger).await?;
                    // A new property rebuilds only the property cache when
                    // written (KB1000746: new properties should ignore the
                    // cache); it is configuration, so it is not private and
                    // travels in the administrator's update set.
                    let mut body = serde_json::json!({
                        "name": entry.name,
                        "value": entry.value,
                        "type": entry.property_type.as_deref().unwrap_or("string"),
                        "ignore_cache": "true",
                    });
                    if let Some(description) = &entry.description {
                        body["description"] = serde_json::json!(description);
                    }
                    let created = table.create_with_id(&sys_id, &body).await?;
                    ledger.created.insert(entry.name.clone(), created.sys_id);
                    done.push(format!("created {}", entry.name));
                }
                Some(r) if r.value != entry.value => {
                    if !ledger.created.contains_key(&entry.name) {
                        ledger
                            .adopted
                            .entry(entry.name.clone())
                            .or_insert_with(|| (r.sys_id.clone(), r.value.clone()));
                    }
                    ctx.reserve_step_record(&id, &ledger).await?;
                    table
                        .update(&r.sys_id, &serde_json::json!({ "value": entry.value }))
                        .await?;
                    done.push(format!("set {}", entry.name));
                }
                Some(_) => {}
            }
        }
        ctx.set_step_record(&id, Some(&ledger)).await;
        Ok(Applied::new(done.join("; ")))
    }

    fn findings(&self, _ctx: &Context, state: &PropertiesState) -> Vec<Check> {
        misfits(state)
            .into_iter()
            .map(|m| {
                Check::fail(
                    "system property value fits its type",
                    m,
                    "fix the value in [[properties]]",
                )
            })
            .collect()
    }

    /// Deletes the properties it created (when the record still has the recorded
    /// sys_id and name) and puts back the previous values of those it adopted.
    /// Keeps what the damaged ledger still records, record by record: a
    /// created property when the record with its sys_id still has its name; an
    /// adopted one (with the previous value teardown puts back) likewise.
    /// Anything else is left out and said.
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        let mut out = Repaired::default();
        let Some(old) = damaged
            .section
            .clone()
            .and_then(|v| serde_json::from_value::<Section>(v).ok())
        else {
            if damaged.raw.contains(&format!("\"{ID}\"")) {
                out.lost.push(
                    "the [[properties]] section could not be read back: properties it created or adopted are no longer recorded (check them by hand)".to_owned(),
                );
            }
            return Ok(out);
        };
        let table = ctx.servicenow.table::<SystemProperty>();
        let mut kept = Section::default();
        for (name, sys_id) in old.created {
            match table.find(&sys_id).await? {
                Some(record) if record.name == name => {
                    out.claimed.push(format!(
                        "system property {name} ({sys_id}), created by bp-servicenow"
                    ));
                    kept.created.insert(name, sys_id);
                }
                Some(record) => out.unproven.push(format!(
                    "system property {name}: the ledger's {sys_id} is now {:?}, not ours",
                    record.name
                )),
                None => {}
            }
        }
        for (name, (sys_id, previous)) in old.adopted {
            match table.find(&sys_id).await? {
                Some(record) if record.name == name => {
                    out.claimed.push(format!(
                        "system property {name} ({sys_id}), adopted (its previous value is kept for teardown)"
                    ));
                    kept.adopted.insert(name, (sys_id, previous));
                }
                _ => out.lost.push(format!(
                    "the previous value of the adopted system property {name}: its record {sys_id} is gone or renamed"
                )),
            }
        }
        if kept != Section::default() {
            out.section = Some(serde_json::to_value(&kept).unwrap_or_default());
        }
        Ok(out)
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = section(ctx).await?;
        let mut removals = Vec::new();
        // Those it created, then those it adopted (a name is in one of them).
        let adopted_only = ledger
            .adopted
            .keys()
            .filter(|name| !ledger.created.contains_key(*name));
        for name in ledger.created.keys().chain(adopted_only) {
            // Only a property the spec names may be deleted or restored: a
            // ledger naming another (the allow-list, say) is reported, never
            // obeyed.
            if !ctx.spec.properties.iter().any(|p| &p.name == name) {
                removals.push(Removal::new(
                    Properties.resource(name),
                    RemovalOutcome::LeftAlone,
                    "the ledger names it, but [[properties]] does not: nothing is changed (name it again in the spec for teardown to remove or restore it)",
                ));
                continue;
            }
            let adopted = ledger.adopted.get(name).map(|(sys_id, value)| Adopted {
                sys_id: sys_id.clone(),
                previous: [("value".to_owned(), value.clone())].into(),
            });
            let recorded = Recorded {
                created: ledger.created.get(name),
                adopted: adopted.as_ref(),
                adopted_as: name,
                managed_fields: &["value"],
            };
            removals.extend(ownership::undo(&Properties, ctx, name, recorded).await?);
        }
        ctx.set_step_record::<Section>(&StepId::custom(ID), None)
            .await;
        Ok(removals)
    }
}
