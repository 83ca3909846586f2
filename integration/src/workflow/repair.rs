//! `Workflow::repair`: a damaged ledger rebuilt from what can be proven.

use super::*;

impl Workflow {
    /// Rebuilds the ledger when it cannot be read (or to check it): takes the
    /// lease, salvages what the damaged properties still say, and claims only
    /// what can be proven this integration's — an OAuth application by the mark
    /// in its comments; a configuration, rule or grant when the damaged ledger
    /// still names its sys_id and the record's natural key matches; the
    /// allow-list entry and the integration account when it still names them.
    /// Everything else with the configured names is reported and left out.
    /// Adopted records' previous values cannot be recovered: they are reported.
    pub async fn repair(&self) -> Result<RepairReport, WorkflowError> {
        let loaded = self.load_ledger(false).await?;
        self.refuse_if_held(&loaded)?;
        let (result, footprint) = self.holding_lease("repair", self.repair_holding()).await?;
        result.map(|mut report| {
            report.footprint = footprint;
            report
        })
    }

    pub(super) async fn repair_holding(&self) -> Result<RepairReport, WorkflowError> {
        let ctx = &self.ctx;
        let raw = ctx
            .ledger_store
            .raw_text()
            .await
            .map_err(WorkflowError::Ledger)?;
        // Work from an empty ledger: nothing is ours until proven.
        let loaded = self.load_for_writing(true).await?;
        let readable = loaded.ledger.as_ref().ok().cloned();
        *ctx.ledger.lock().await = Ledger::default();
        let mut report = RepairReport::default();
        let mut ledger = Ledger::default();
        let sn = &ctx.servicenow;
        let spec = &ctx.spec;
        let fail = |step| {
            move |source| WorkflowError::Step {
                step,
                source: StepError::Request(source),
            }
        };

        let configs = sn
            .openframe_configurations()
            .get_by_name(&spec.openframe.name)
            .await
            .ok()
            .flatten();
        if let Some(c) = configs {
            let what = format!("OpenFrame configuration {:?} ({})", c.fields.name, c.sys_id);
            if raw.contains(c.sys_id.as_str()) && spec.openframe_adopt.is_none() {
                ledger.openframe = Some(c.sys_id);
                report.claimed.push(what);
            } else {
                report.unproven.push(what);
            }
        }
        for rule in sn
            .cors_rules()
            .list_by_name(&spec.cors_name)
            .await
            .map_err(fail(StepId::CORS))?
        {
            let what = format!("CORS rule {:?} ({})", rule.name, rule.sys_id);
            if raw.contains(rule.sys_id.as_str()) && ledger.cors_rule.is_none() {
                ledger.cors_rule = Some(rule.sys_id);
                report.claimed.push(what);
            } else {
                report.unproven.push(what);
            }
        }
        let mark = crate::steps::oauth_endpoint::marker_prefix(ctx);
        for app in sn
            .oauth_applications()
            .list_by_name(&spec.oauth.name)
            .await
            .map_err(fail(StepId::OAUTH_ENDPOINT))?
        {
            let what = format!("OAuth application {:?} ({})", app.name, app.sys_id);
            if app.comments.contains(&mark) && ledger.oauth_application.is_none() {
                ledger.oauth_application = Some(app.sys_id);
                report.claimed.push(format!("{what}, by its mark"));
            } else {
                report.unproven.push(what);
            }
        }
        // Grants: the damaged ledger names the id, and the row is a grant of the
        // role to a listed user or group.
        let roles = sn.roles();
        for user in &spec.access.users {
            if let Ok(status) = roles.user_status(user, crate::spec::OPENFRAME_ROLE).await {
                if let Some(id) = status.direct {
                    let what = format!(
                        "grant of {} to user {user} ({id})",
                        crate::spec::OPENFRAME_ROLE
                    );
                    if raw.contains(id.as_str()) {
                        ledger.user_grants.insert(user.clone(), id);
                        report.claimed.push(what);
                    } else {
                        report.unproven.push(what);
                    }
                }
            }
        }
        for group in &spec.access.groups {
            if let Ok(Some(grant)) = roles.group_grant(group, crate::spec::OPENFRAME_ROLE).await {
                let what = format!(
                    "grant of {} to group {group} ({})",
                    crate::spec::OPENFRAME_ROLE,
                    grant.sys_id
                );
                if raw.contains(grant.sys_id.as_str()) {
                    ledger.group_grants.insert(group.clone(), grant.sys_id);
                    report.claimed.push(what);
                } else {
                    report.unproven.push(what);
                }
            }
        }
        let origin = spec.openframe.url.tenant().as_str();
        if raw.contains(&format!("\"allow_list_entry\":\"{origin}\"")) {
            ledger.allow_list_entry = Some(origin.to_owned());
            report
                .claimed
                .push(format!("postMessage allow-list entry {origin}"));
        }
        let account = &spec.integration_account.name;
        if raw.contains(&format!(
            "\"integration_account\":{}",
            serde_json::json!(account)
        )) {
            ledger.integration_account = Some(account.clone());
            report
                .claimed
                .push(format!("integration account {account:?}"));
        }
        for adopted in ["openframe_adopted", "cors_adopted"] {
            if raw.contains(adopted) {
                report.lost.push(format!(
                    "the previous values of an adopted record ({adopted}): teardown cannot restore them; note them by hand"
                ));
            }
        }
        // Every other step rebuilds its own section (a custom step's too).
        for step in &self.steps {
            let id = step.id();
            if StepId::BUILT_IN.contains(&id) {
                continue;
            }
            let damaged = crate::step::Damaged::for_step(&raw, readable.as_ref(), &id);
            let repaired =
                step.repair(ctx, &damaged)
                    .await
                    .map_err(|source| WorkflowError::Step {
                        step: id.clone(),
                        source,
                    })?;
            if let Some(section) = repaired.section {
                ledger.steps.insert(id.as_str().to_owned(), section);
            }
            report.claimed.extend(repaired.claimed);
            report.unproven.extend(repaired.unproven);
            report.lost.extend(repaired.lost);
        }
        // A switch of the administrator's update set that is not put back yet
        // stays recorded, so that the next writing run puts it back.
        ledger.update_set_switch = match &readable {
            Some(l) => l.update_set_switch.clone(),
            None => crate::step::salvage_value(&raw, "update_set_switch")
                .and_then(|v| serde_json::from_value(v).ok()),
        };
        ctx.ledger_store
            .save(&ledger)
            .await
            .map_err(WorkflowError::Ledger)?;
        *ctx.ledger.lock().await = ledger.clone();
        *ctx.saved_ledger.lock().await = ledger;
        Ok(report)
    }
}
