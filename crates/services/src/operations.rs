//! Long-running operations: a stored `Operation` resource per job, created
//! in `pending`, moved through `running` with progress by the job itself,
//! and ended in a terminal state. Clients poll or watch it.

use std::future::Future;
use std::sync::Arc;

use corridor_hal::Clock;
use corridor_model::meta::{Operation, OperationKind, ResourceRef};
use corridor_model::problem::Problem;

use crate::ids::new_id;
use crate::{Registry, Resource, ServiceError};

impl Resource for Operation {
    const KIND: &'static str = "operations";

    fn id(&self) -> &str {
        &self.id
    }

    fn set_resource_version(&mut self, resource_version: String) {
        self.resource_version = resource_version;
    }
}

/// Starts operations and lets their jobs report progress.
#[derive(Debug, Clone)]
pub struct Operations {
    registry: Registry<Operation>,
    clock: Arc<dyn Clock>,
}

/// Handed to a running job so it can report progress on its operation.
#[derive(Debug, Clone)]
pub struct Progress {
    id: String,
    registry: Registry<Operation>,
    clock: Arc<dyn Clock>,
}

impl Progress {
    pub fn operation_id(&self) -> &str {
        &self.id
    }

    /// Records `percent` done with a human-readable message.
    pub async fn report(
        &self,
        percent: u8,
        message: impl Into<String>,
    ) -> Result<(), ServiceError> {
        let message = message.into();
        let now = self.clock.now();
        self.registry
            .update(&self.id, None, |op| {
                op.progress(percent, message.clone(), now);
                Ok(())
            })
            .await
            .map(|_| ())
    }
}

impl Progress {
    /// As [`Progress::report`], with the kind's progress detail.
    pub async fn report_detail(
        &self,
        percent: u8,
        message: impl Into<String>,
        detail: serde_json::Value,
    ) -> Result<(), ServiceError> {
        let message = message.into();
        let now = self.clock.now();
        self.registry
            .update(&self.id, None, |op| {
                op.progress(percent, message.clone(), now);
                op.progress_detail = Some(detail.clone());
                Ok(())
            })
            .await
            .map(|_| ())
    }
}

impl Operations {
    pub fn new(registry: Registry<Operation>, clock: Arc<dyn Clock>) -> Self {
        Self { registry, clock }
    }

    pub fn registry(&self) -> &Registry<Operation> {
        &self.registry
    }

    /// Records a new operation and runs `job` in the background; the
    /// returned operation (state `pending`) is what a `202` answers with.
    ///
    /// The job's `Ok(result)` marks the operation succeeded with that
    /// result; `Err(problem)` marks it failed with that problem.
    pub async fn start<F, Fut>(
        &self,
        kind: OperationKind,
        target: ResourceRef,
        job: F,
    ) -> Result<Operation, ServiceError>
    where
        F: FnOnce(Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<serde_json::Value>, Problem>> + Send + 'static,
    {
        let operation = Operation::pending(
            new_id(self.clock.as_ref(), "op"),
            kind,
            target,
            self.clock.now(),
        );
        let created = self.registry.create(&operation).await?;
        let progress = Progress {
            id: created.id.clone(),
            registry: self.registry.clone(),
            clock: Arc::clone(&self.clock),
        };
        let registry = self.registry.clone();
        let clock = Arc::clone(&self.clock);
        corridor_store::fencing::spawn(async move {
            let id = progress.id.clone();
            let outcome = job(progress).await;
            let now = clock.now();
            let finished = registry
                .update(&id, None, |op| {
                    match &outcome {
                        Ok(result) => op.succeed(result.clone(), now),
                        Err(problem) => op.fail(problem.clone(), now),
                    }
                    Ok(())
                })
                .await;
            if let Err(error) = finished {
                tracing::error!(operation = %id, error = %crate::error::error_chain(&error), "cannot record the end of an operation");
            }
        });
        Ok(created)
    }
}
