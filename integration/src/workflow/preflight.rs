//! Before anything is written: the administrator's roles, the release, the
//! update set, and records with configured names that are not ours.

use super::*;

impl Workflow {
    /// The records with configured names that this integration does not own,
    /// as the steps that find records by name ([`Step::finds_by_name`]) observe
    /// them now.
    pub(super) async fn taken(&self) -> Result<Vec<Taken>, WorkflowError> {
        let named = self.steps.iter().filter(|s| s.finds_by_name());
        let planned = futures_util::future::join_all(named.map(|step| {
            let (step, id) = (step.clone(), step.id());
            let ctx = self.ctx.clone();
            async move {
                step.plan(&ctx, &Upstream::default())
                    .await
                    .map_err(|source| WorkflowError::Step { step: id, source })
            }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok(taken_in(&planned))
    }

    /// Checks, before anything is written, that the administrator holds what
    /// every step needs (and what the ledger and lease need), and — when
    /// `releases` — that the instance is recent enough for every step. Every
    /// problem is named at once. Credentials that name no user (client
    /// credentials, an API key) cannot be checked: a warning says so.
    pub async fn preflight(&self, releases: bool) -> Result<Vec<PreflightProblem>, WorkflowError> {
        self.preflight_knowing(releases, None).await
    }

    /// [`preflight`](Self::preflight), with the release when this operation has
    /// read it already (plan reads it with the ledger), so it is not read twice.
    pub(super) async fn preflight_knowing(
        &self,
        releases: bool,
        known: Option<servicenow_client::release::Release>,
    ) -> Result<Vec<PreflightProblem>, WorkflowError> {
        let ctx = &self.ctx;
        let mut problems = self.spec_problems();
        let mut needs = vec![RoleNeed::admin(
            "the ledger and the lease, kept in system properties",
        )];
        for step in &self.steps {
            for need in step.required_roles(ctx) {
                match needs.iter_mut().find(|n| n.any_of == need.any_of) {
                    Some(n) if !n.purpose.contains(&need.purpose) => {
                        n.purpose = format!("{}, {}", n.purpose, need.purpose);
                    }
                    Some(_) => {}
                    None => needs.push(need),
                }
            }
        }
        let minimums: Vec<(StepId, Family, String)> = if releases {
            self.steps
                .iter()
                .filter_map(|s| s.minimum_release(ctx).map(|(f, why)| (s.id(), f, why)))
                .collect()
        } else {
            Vec::new()
        };
        let user = ctx.servicenow.username().map(str::to_owned);
        let roles: Vec<&str> = {
            let mut all: Vec<&str> = needs
                .iter()
                .flat_map(|n| n.any_of.iter().map(String::as_str))
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let held = async {
            match &user {
                Some(user) => ctx.servicenow.roles().held_by(user, &roles).await.map(Some),
                None => Ok(None),
            }
        };
        let release = async {
            match known {
                _ if minimums.is_empty() => Ok(None),
                Some(release) => Ok(Some(release)),
                None => ctx.servicenow.release().await.map(Some),
            }
        };
        let (held, release) = futures_util::join!(held, release);
        let release = release.map_err(WorkflowError::PreflightRead)?;
        let held = match (held, &user) {
            (Err(Error::MissingRecord { .. }), Some(user)) => {
                problems.push(PreflightProblem::UnknownUser { user: user.clone() });
                None
            }
            (held, _) => held.map_err(WorkflowError::PreflightRead)?,
        };
        match (user, held) {
            (Some(user), Some(held)) => {
                let unmet: Vec<RoleNeed> = needs
                    .into_iter()
                    .filter(|n| !n.any_of.iter().any(|r| held.contains(r)))
                    .collect();
                if !unmet.is_empty() {
                    problems.push(PreflightProblem::MissingRoles { user, unmet });
                }
            }
            (Some(_), None) => {}
            (None, _) => ctx.emit(Event::Warning {
                step: StepId::RUN,
                message: format!(
                    "the administrator's roles were not checked: authenticating with {} names no user (the instance's answers will tell)",
                    ctx.servicenow.credentials_method()
                ),
            }),
        }
        problems.extend(
            crate::update_set::preflight(ctx)
                .await
                .map_err(WorkflowError::PreflightRead)?,
        );
        if let Some(release) = release {
            *ctx.release.lock().unwrap_or_else(|p| p.into_inner()) = release.clone();
            for (step, minimum, reason) in minimums {
                if release.at_least(minimum.clone()) == Some(false) {
                    problems.push(PreflightProblem::ReleaseTooOld {
                        step,
                        release: release.to_string(),
                        minimum,
                        reason,
                    });
                }
            }
        }
        Ok(problems)
    }

    /// Runs [`preflight`](Self::preflight) and fails on any problem.
    pub(super) async fn require_preflight(&self, releases: bool) -> Result<(), WorkflowError> {
        let problems = self.preflight(releases).await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(WorkflowError::Preflight(problems))
        }
    }
}
