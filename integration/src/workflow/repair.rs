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
        // Every step rebuilds its own part: the built-in ones record what they
        // prove into the (empty) ledger, the others hand back their section.
        for step in &self.steps {
            let id = step.id();
            let damaged = crate::step::Damaged::for_step(&raw, readable.as_ref(), &id);
            let repaired =
                step.repair(ctx, &damaged)
                    .await
                    .map_err(|source| WorkflowError::Step {
                        step: id.clone(),
                        source,
                    })?;
            if let Some(section) = repaired.section {
                ctx.record_step(&id, Some(section)).await;
            }
            report.claimed.extend(repaired.claimed);
            report.unproven.extend(repaired.unproven);
            report.lost.extend(repaired.lost);
        }
        let mut ledger = ctx.ledger().await;
        // A switch of the administrator's update set that is not put back yet
        // stays recorded, so that the next writing run puts it back.
        ledger.update_set_switch = match &readable {
            Some(l) => l.update_set_switch.clone(),
            None => crate::step::salvage_value(&raw, "update_set_switch")
                .and_then(|v| serde_json::from_value(v).ok()),
        };
        // A person's confirmations are not records to prove: kept as said (a
        // confirmation no longer matching its step's values counts for nothing).
        ledger.confirmed = match &readable {
            Some(l) => l.confirmed.clone(),
            None => crate::step::salvage_value(&raw, "confirmed")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
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
