//! Step 4: the CORS rule that lets the tenant origin call the instance: the tenant
//! origin as domain, on the Table API, POST allowed, `Access-Control-Allow-Origin`
//! among the allowed headers, active. Methods and headers a person added are kept.

use async_trait::async_trait;
use servicenow_client::cors::{CorsRule, CorsRuleSpec, TABLE_API_BASE_URI};
use servicenow_client::wire::SysId;

use std::collections::BTreeMap;

use servicenow_client::Result;

use crate::ledger::Adopted;
use crate::managed::{Ownership, Picked, RecordPlan};
use crate::ownership::{self, Found, RecordKind, Recorded};
use crate::report::{Check, Removal};
use crate::step::{
    Applied, Change, Context, Damaged, FieldChange, Repaired, RoleNeed, Step, StepId, StepResult,
    Upstream, duplicates_check, duplicates_text,
};

/// The header the seed procedure sets on the rule.
pub const REQUIRED_HEADER: &str = "Access-Control-Allow-Origin";

/// Step 4.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorsStep;

/// The rule (by name), whose it is, and the Table API's definition.
#[derive(Debug, Clone)]
pub struct CorsState {
    rule: Option<CorsRule>,
    ownership: Ownership,
    table_api: SysId,
    /// Other rules with the same name: reported, never touched.
    duplicates: Vec<SysId>,
}

/// The rule as it should be, keeping what a person added to an existing one.
fn desired(ctx: &Context, existing: Option<&CorsRule>, table_api: &SysId) -> CorsRuleSpec {
    let mut methods = existing.map(CorsRule::methods).unwrap_or_default();
    methods.post = true;
    let mut headers: Vec<String> = existing
        .map(|r| {
            r.access_control_allow_headers
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if !headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case(REQUIRED_HEADER))
    {
        headers.push(REQUIRED_HEADER.to_owned());
    }
    let mut spec = CorsRuleSpec::new(ctx.spec.cors_name.clone(), ctx.spec.cors_domain.clone())
        .methods(methods)
        .allow_headers(headers);
    spec.rest_api = Some(table_api.clone());
    if let Some(rule) = existing {
        spec.max_age = rule.max_age;
        spec.exposed_headers = rule
            .exposed_headers
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
    }
    spec
}

fn changes(rule: Option<&CorsRule>, want: &CorsRuleSpec) -> Vec<FieldChange> {
    let Some(rule) = rule else {
        return vec![
            FieldChange::new("domain", None, want.domain.as_str()),
            FieldChange::new("post", None, "true"),
            FieldChange::new(
                "access_control_allow_headers",
                None,
                want.allow_headers.join(","),
            ),
            FieldChange::new("active", None, "true"),
        ];
    };
    [
        FieldChange::diff("domain", &rule.domain, want.domain.as_str()),
        FieldChange::diff(
            "rest_api",
            rule.rest_api.sys_id().unwrap_or(""),
            want.rest_api.as_ref().map(SysId::as_str).unwrap_or(""),
        ),
        FieldChange::diff("post", rule.post, want.methods.post),
        FieldChange::diff(
            "access_control_allow_headers",
            &rule.access_control_allow_headers,
            want.allow_headers.join(","),
        ),
        FieldChange::diff("active", rule.active, want.active),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What the step will do to the rule (the ownership protocol's plan).
type CorsPlan = RecordPlan<CorsRuleSpec>;

fn plan(ctx: &Context, state: &CorsState) -> CorsPlan {
    let want = desired(ctx, state.rule.as_ref(), &state.table_api);
    let differing = state
        .rule
        .as_ref()
        .map(|rule| changes(Some(rule), &want))
        .unwrap_or_default();
    let refusal = |rule: &CorsRule| {
        format!(
            "CORS rule {:?} ({}, domain {}) exists and was not made by bp-servicenow: exists, not ours; set [cors] adopt = true to take it over (teardown restores it), or choose another name",
            rule.name, rule.sys_id, rule.domain
        )
    };
    RecordPlan::decide(
        state.rule.as_ref().map(|r| &r.sys_id),
        state.ownership,
        ctx.spec.cors_adopt,
        || state.rule.as_ref().map(refusal).unwrap_or_default(),
        want,
        differing,
    )
}

/// CORS rules, for the ownership protocol's undo.
struct Rules;

#[async_trait]
impl RecordKind for Rules {
    fn kind(&self) -> &'static str {
        "CORS rule"
    }

    async fn read(&self, ctx: &Context, id: &SysId) -> Result<Option<Found>> {
        let rules = ctx.servicenow.table_json("sys_cors_rule")?;
        Ok(rules.find(id).await?.map(|rule| Found {
            name: rule["name"].as_str().unwrap_or_default().to_owned(),
            unproven: None,
        }))
    }

    async fn find(&self, ctx: &Context, name: &str) -> Result<Option<SysId>> {
        let rules = ctx.servicenow.cors_rules();
        Ok(rules.get_by_name(name).await?.map(|r| r.sys_id))
    }

    async fn delete(&self, ctx: &Context, id: &SysId) -> Result<()> {
        ctx.servicenow.cors_rules().delete(id).await
    }

    async fn restore(
        &self,
        ctx: &Context,
        id: &SysId,
        previous: &BTreeMap<String, String>,
    ) -> Result<()> {
        ctx.servicenow
            .cors_rules()
            .patch(id, previous)
            .await
            .map(drop)
    }
}

/// The columns this step sets: the only ones teardown puts back on an adopted
/// rule.
const MANAGED_FIELDS: [&str; 5] = [
    "domain",
    "rest_api",
    "post",
    "access_control_allow_headers",
    "active",
];

#[async_trait]
impl Step for CorsStep {
    type State = CorsState;

    fn id(&self) -> StepId {
        StepId::CORS
    }

    fn identity(&self, spec: &crate::spec::ResolvedSpec) -> Vec<String> {
        vec![spec.cors_name.clone()]
    }

    fn writes_configuration(&self) -> bool {
        true
    }

    fn finds_by_name(&self) -> bool {
        true
    }

    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::PLUGINS]
    }

    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        vec![RoleNeed::admin("the CORS rule (sys_cors_rule)")]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!(
            "CORS rule {:?} for {}",
            ctx.spec.cors_name, ctx.spec.cors_domain
        )
    }

    async fn observe(&self, ctx: &Context) -> StepResult<CorsState> {
        let rules = ctx.servicenow.cors_rules();
        let (all, table_api) =
            futures_util::try_join!(rules.list_by_name(&ctx.spec.cors_name), rules.table_api())?;
        let ledger = ctx.ledger().await;
        let picked = Picked::among(
            all,
            |r| &r.sys_id,
            ledger.cors_rule.as_ref(),
            ledger.cors_adopted.as_ref().map(|a| &a.sys_id),
        );
        Ok(CorsState {
            duplicates: picked.duplicates,
            ownership: picked.ownership,
            rule: picked.record,
            table_api,
        })
    }

    fn change(&self, ctx: &Context, state: &CorsState, _upstream: &Upstream) -> Change {
        let plan = plan(ctx, state);
        let mut change = plan.change("CORS rule", &ctx.spec.cors_name, |want| changes(None, want));
        if !state.duplicates.is_empty() && !matches!(plan, RecordPlan::Refuse(_)) {
            change.warnings.insert(
                0,
                duplicates_text("CORS rule", &ctx.spec.cors_name, &state.duplicates),
            );
        }
        change
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: CorsState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let rules = ctx.servicenow.cors_rules();
        let plan = plan(ctx, &state);
        let adopts = plan.adopts();
        match plan {
            RecordPlan::Refuse(_) | RecordPlan::Unchanged => Ok(Applied::new("nothing to do")),
            RecordPlan::Create(want) => {
                let id = SysId::generate();
                ctx.reserve(|l| l.cors_rule = Some(id.clone())).await?;
                let created = rules.create_with_id(&id, &want).await?;
                let note = ctx
                    .created("CORS rule", &id, &created.sys_id, |l, id| {
                        l.cors_rule = Some(id)
                    })
                    .await;
                Ok(format!(
                    "created rule {}{}",
                    created.sys_id,
                    note.map(|n| format!("; {n}")).unwrap_or_default()
                )
                .into())
            }
            RecordPlan::Update {
                sys_id,
                want,
                differing,
                ..
            } if adopts => {
                // Adopted: only the columns that change are written, each
                // previous value recorded first.
                let adopted = Adopted::remember(
                    ctx.ledger().await.cors_adopted.as_ref(),
                    &sys_id,
                    differing
                        .iter()
                        .map(|c| (c.field.as_str(), c.old.as_deref().unwrap_or(""))),
                );
                ctx.reserve(|l| l.cors_adopted = Some(adopted)).await?;
                let mut patch = want.columns(&state.table_api);
                patch.retain(|column, _| differing.iter().any(|c| &c.field == column));
                rules.patch(&sys_id, &patch).await?;
                Ok(format!(
                    "adopted {sys_id}; updated {}",
                    patch.keys().cloned().collect::<Vec<_>>().join(", ")
                )
                .into())
            }
            RecordPlan::Update {
                sys_id,
                want,
                differing,
                ..
            } => {
                rules.update(&sys_id, &want).await?;
                let fields: Vec<&str> = differing.iter().map(|c| c.field.as_str()).collect();
                Ok(format!("updated {}", fields.join(", ")).into())
            }
        }
    }

    fn findings(&self, ctx: &Context, state: &CorsState) -> Vec<Check> {
        duplicates_check(
            &format!("CORS rule {:?}", ctx.spec.cors_name),
            "CORS rule",
            &ctx.spec.cors_name,
            &state.duplicates,
        )
        .into_iter()
        .collect()
    }

    /// Sends the preflight the tenant's browser page sends before it POSTs to the
    /// instance, and checks that the answer allows the tenant origin and POST.
    async fn prove(
        &self,
        ctx: &Context,
        _state: &CorsState,
        _upstream: &Upstream,
    ) -> StepResult<Vec<Check>> {
        let origin = ctx.spec.cors_domain.as_str();
        let path = format!("{TABLE_API_BASE_URI}/sys_user");
        let answer = ctx
            .servicenow
            .cors_rules()
            .preflight(&path, origin, "POST")
            .await?;
        let name = format!("a browser on {origin} may POST to the Table API (CORS preflight)");
        Ok(vec![if answer.allows(origin, "POST") {
            Check::pass(
                name,
                format!(
                    "OPTIONS {path} answered Access-Control-Allow-Origin {} and methods {}",
                    answer.allow_origin.as_deref().unwrap_or(""),
                    answer.allow_methods.join(",")
                ),
            )
        } else {
            Check::fail(
                name,
                format!(
                    "OPTIONS {path} answered HTTP {}, Access-Control-Allow-Origin {}, methods {}",
                    answer.status,
                    answer.allow_origin.as_deref().unwrap_or("(none)"),
                    if answer.allow_methods.is_empty() {
                        "(none)".to_owned()
                    } else {
                        answer.allow_methods.join(",")
                    }
                ),
                format!(
                    "no active CORS rule on the Table API allows POST from {origin}: run apply, and check no other rule is needed by your instance's proxy"
                ),
            )
        }])
    }

    /// Claims the first rule with the spec's name whose sys_id the damaged
    /// ledger still names; the others are left out. An adopted rule's
    /// previous values are lost.
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        let mut out = Repaired::default();
        let mut claimed = false;
        for rule in ctx
            .servicenow
            .cors_rules()
            .list_by_name(&ctx.spec.cors_name)
            .await?
        {
            let what = format!("CORS rule {:?} ({})", rule.name, rule.sys_id);
            if damaged.raw.contains(rule.sys_id.as_str()) && !claimed {
                claimed = true;
                ctx.record(|l| l.cors_rule = Some(rule.sys_id)).await;
                out.claimed.push(what);
            } else {
                out.unproven.push(what);
            }
        }
        if damaged.raw.contains("cors_adopted") {
            out.lost.push(
                "the previous values of the adopted CORS rule: teardown cannot restore them; note them by hand".to_owned(),
            );
        }
        Ok(out)
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let removals = ownership::undo(
            &Rules,
            ctx,
            &ctx.spec.cors_name,
            Recorded {
                created: ledger.cors_rule.as_ref(),
                adopted: ledger.cors_adopted.as_ref(),
                adopted_as: &ctx.spec.cors_name,
                managed_fields: &MANAGED_FIELDS,
            },
        )
        .await?;
        ctx.record(|l| {
            l.cors_rule = None;
            l.cors_adopted = None;
        })
        .await;
        Ok(removals)
    }
}
