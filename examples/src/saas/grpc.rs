//! The gRPC counterpart: `saas.v1.Projects`, on the same state and audit
//! trail as the HTTP API.
//!
//! The server is a tonic `Server` with the same `AuditLayer` (and policy) as
//! the HTTP router; authentication is a tonic interceptor inside it, reading
//! the same credentials from the `authorization` or `x-api-key` metadata.
//! The mutating methods are `#[audited]`: the macro records the request
//! message (prost messages through their `Debug` form, redacted like any
//! JSON), the response, and an error `Status` as the outcome and reason.

use audit_core::{AuditScope, audited};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use super::auth::{self, Credential, CurrentUser};
use super::model::{NewProject, Project, ProjectPatch};
use super::{ApiError, AppState};

/// The code generated from `src/saas/proto/saas.proto` at build time
/// (`build.rs`).
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/saas.v1.rs"));
}

use pb::projects_server::{Projects, ProjectsServer};

/// The `saas.v1.Projects` service.
#[derive(Debug, Clone)]
pub struct ProjectsService {
    state: AppState,
}

impl ProjectsService {
    /// The service on `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// The service behind its authentication interceptor, ready for
    /// `Server::add_service`.
    pub fn into_server(self) -> InterceptedService<ProjectsServer<Self>, GrpcAuth> {
        let auth = GrpcAuth { state: self.state.clone() };
        ProjectsServer::with_interceptor(self, auth)
    }
}

/// The authentication interceptor: `UNAUTHENTICATED` (audited as denied)
/// without a known token.
#[derive(Debug, Clone)]
pub struct GrpcAuth {
    state: AppState,
}

impl Interceptor for GrpcAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let scope = request.extensions().get::<AuditScope>().cloned();
        let metadata = request.metadata();
        let credential = Credential::from_lookup(|name| metadata.get(name)?.to_str().ok());
        match self.state.authenticate(credential) {
            Some(user) => {
                auth::on_authenticated(scope.as_ref(), &user);
                request.extensions_mut().insert(user);
                Ok(request)
            }
            None => {
                auth::on_rejected(scope.as_ref(), credential);
                Err(ApiError::Unauthenticated.into())
            }
        }
    }
}

fn caller<T>(request: &Request<T>) -> Result<CurrentUser, Status> {
    request
        .extensions()
        .get::<CurrentUser>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthenticated.into())
}

impl From<Project> for pb::Project {
    fn from(p: Project) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            visibility: p.visibility.as_str().to_owned(),
        }
    }
}

#[tonic::async_trait]
impl Projects for ProjectsService {
    #[audited(event = "project.create")]
    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let user = caller(&request)?;
        let r = request.into_inner();
        let new = NewProject { name: r.name, description: r.description, visibility: r.visibility };
        let project = self.state.create_project(&user, new).await?;
        Ok(Response::new(project.into()))
    }

    #[audited(event = "project.update", resource_id = request.get_ref().id)]
    async fn update_project(
        &self,
        request: Request<pb::UpdateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let user = caller(&request)?;
        let r = request.into_inner();
        let patch =
            ProjectPatch { name: r.name, description: r.description, visibility: r.visibility };
        let updated = self.state.update_project(&user, &r.id, patch).await?;
        if let Some(scope) = AuditScope::current() {
            scope.record_changes(&updated.before, &updated.after);
        }
        Ok(Response::new(updated.after.into()))
    }

    #[audited(event = "project.delete", resource_id = request.get_ref().id)]
    async fn delete_project(
        &self,
        request: Request<pb::DeleteProjectRequest>,
    ) -> Result<Response<pb::DeleteProjectResponse>, Status> {
        let user = caller(&request)?;
        self.state.delete_project(&user, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteProjectResponse {}))
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        caller(&request)?;
        let project = self.state.get_project(&request.get_ref().id).await?;
        Ok(Response::new(project.into()))
    }
}
