//! `Workflow::plan`: what apply would change, observed through read-only
//! clients.

use super::*;

impl Workflow {
    /// Every step's plan, observed through read-only clients, wave by wave.
    pub(super) async fn planned_steps(&self) -> Result<Vec<PlannedStep>, WorkflowError> {
        let reading = self.ctx.preview().await;
        self.by_waves(&reading, Upstream::default(), |step, ctx, upstream| {
            Box::pin(async move {
                let planned = step.plan(ctx, upstream).await?;
                Ok((planned.clone(), planned))
            })
        })
        .await
    }

    /// What apply would change. Reads only: the steps observe through
    /// read-only clients ([`Context::is_preview`]), so a step that tried to
    /// write while planning would fail the plan instead.
    pub async fn plan(&self) -> Result<Plan, WorkflowError> {
        let start = self.writes_sent();
        let loaded = self.load_ledger(false).await?;
        let steps = self.planned_steps().await?;
        let mut notes = Vec::new();
        if let Err(corrupt) = &loaded.ledger {
            notes.push(format!(
                "{corrupt}; apply and teardown refuse to write until then"
            ));
        }
        for other in &loaded.other_integrations {
            notes.push(format!(
                "another integration with this tenant has a ledger ({other}*): a spec with other names is a new integration, and that one is left as it is"
            ));
        }
        let release = self.ctx.release();
        if !release.is_known() {
            notes.push(format!(
                "the instance's release is unknown (none of {} names it): checks that depend on it are not made",
                servicenow_client::release::BUILD_PROPERTIES.join(", ")
            ));
        }
        let refusals = self.preflight_knowing(true, Some(release.clone())).await?;
        let update_set = match crate::update_set::planned(&self.ctx).await {
            Ok(update_set) => update_set,
            Err(e) => {
                notes.push(format!(
                    "the update set apply's configuration writes would land in could not be read: {e}"
                ));
                None
            }
        };
        if let Ok(Some(switch)) = loaded.ledger.as_ref().map(|l| &l.update_set_switch) {
            notes.push(format!(
                "a stopped run left the administrator's current update set switched to {}: the next writing run puts the previous choice back",
                switch.update_set
            ));
        }
        let corrections = corrections(&loaded);
        Ok(Plan {
            steps,
            notes,
            release,
            refusals,
            held_by: loaded.held,
            corrections,
            footprint: Footprint {
                writes: self.writes_sent().saturating_sub(start),
                update_set,
                ..Footprint::default()
            },
        })
    }
}

/// What apply would correct in the tool's own rows, as `loaded` shows them.
pub(super) fn corrections(loaded: &Loaded) -> Vec<String> {
    let mut corrections = if loaded.unflagged.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{} of the tool's own rows (made by an older version): mark them ignore_cache and is_private, so that writing them never flushes the cache nor travels in an update set",
            loaded.unflagged.len()
        )]
    };
    if let Ok(Some(_)) = loaded.ledger.as_ref().map(|l| &l.update_set_switch) {
        corrections.push(
            "put back the administrator's update set choice that a stopped run switched".to_owned(),
        );
    }
    corrections
}
