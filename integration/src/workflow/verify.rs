//! `Workflow::verify`: every step checked, then proven by effect.

use super::*;

impl Workflow {
    /// Checks every step — its records read back, then its effects proven (the
    /// OAuth round trip, the CORS preflight, the Agent Desktop page, which
    /// configuration each agent gets) — with a fix hint for each problem. Writes
    /// nothing. The report is ok only when every check is; a manual step or an
    /// effect that cannot be proven from here is pending, never ok.
    pub async fn verify(&self) -> Result<VerifyReport, WorkflowError> {
        let start = self.writes_sent();
        let loaded = self.load_ledger(false).await?;
        let mut checks = Vec::new();
        if let Err(corrupt) = &loaded.ledger {
            checks.push(Check::fail(
                "the ledger of what bp-servicenow created",
                corrupt.reason.clone(),
                "run `bp-servicenow repair`",
            ));
        }
        // Wave by wave, as plan: a step's plan may depend on the ones before it;
        // what this workflow's applies handed on (a generated secret) is known.
        let handed_on = self
            .handed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let per_step = self
            .by_waves(&self.ctx, handed_on, |step, ctx, upstream| {
                step.verify(ctx, upstream)
            })
            .await?;
        checks.extend(per_step.into_iter().flatten());
        let mut report = VerifyReport::new(checks);
        report.footprint.writes = self.writes_sent().saturating_sub(start);
        Ok(report)
    }
}
