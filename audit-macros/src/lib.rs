//! Procedural macros for `audit-core`: the [`#[audited]`](macro@audited)
//! attribute.
//!
//! Depend on `audit-core` (feature `macros`, on by default) and write
//! `#[audit_core::audited(...)]`, rather than depending on this crate
//! directly: the generated code calls into `audit_core`.
//!
//! Argument parsing lives in `attr.rs`, what the macro learns from the
//! function's syntax in `sig.rs`, code generation in `expand.rs`.

mod attr;
mod expand;
mod sig;
mod template;

use proc_macro::TokenStream;

/// Records one audit entry per call of the function: who did what to which
/// resource, with which request, and whether it worked.
///
/// ```
/// use audit_core::testing::MemorySink;
/// use audit_core::{Actor, Auditor, Outcome, audited};
///
/// #[derive(Debug, serde::Serialize)]
/// struct Invoice {
///     id: String,
///     total_cents: u64,
/// }
///
/// #[audited(event = "invoice.create", auditor = auditor, actor = Actor::system("billing-cron"))]
/// async fn create_invoice(auditor: &Auditor, customer: &str, total_cents: u64) -> Result<Invoice, String> {
///     if total_cents == 0 {
///         return Err("nothing to bill".into());
///     }
///     Ok(Invoice { id: format!("inv_{customer}"), total_cents })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sink = MemorySink::new();
/// let auditor = Auditor::builder().sink(sink.clone()).build()?;
/// create_invoice(&auditor, "acme", 4200).await?;
/// assert!(create_invoice(&auditor, "acme", 0).await.is_err());
/// auditor.shutdown(std::time::Duration::from_secs(5)).await?;
///
/// let entries = sink.entries(); // genesis, two entries, closing checkpoint
/// let ok = &entries[1];
/// assert_eq!(ok.event, "invoice.create");
/// assert_eq!(ok.description, "system:billing-cron created invoice inv_acme");
/// let request = serde_json::to_value(&ok.request)?;
/// assert_eq!(request["body"], serde_json::json!({"customer": "acme", "total_cents": 4200}));
/// let failed = &entries[2];
/// assert_eq!(failed.outcome, Outcome::Failure);
/// assert_eq!(failed.reason.as_deref(), Some("nothing to bill"));
/// # Ok(()) }
/// ```
///
/// # Inside and outside the `AuditLayer`
///
/// When the function runs inside a request that `audit_tower::AuditLayer`
/// opened, it claims the request's scope ([`AuditScope`]) and fills it; the
/// layer records the one entry when the response is complete, with what it
/// knows itself (client, route, status, duration). An audited handler behind
/// the layer yields exactly one entry.
///
/// Anywhere else (background jobs, CLIs, a second audited function called by
/// the first), the function opens a scope of its own and records the entry
/// itself when it returns, through `auditor = <expr>` or else the global
/// default ([`set_global_auditor`]). A nested function inherits the outer
/// operation's actor. If neither auditor exists the call still returns its
/// result unchanged (the signature cannot change), and the missing entry is
/// reported: a `tracing` error every time, a line on stderr the first time,
/// and a process-wide count (a configuration bug, not a runtime condition).
///
/// An `async fn` records with `Auditor::record_with(..).await`. A plain `fn`
/// cannot await: on a multi-threaded Tokio runtime it blocks while a helper
/// thread writes the entry on that runtime; on a current-thread runtime (which
/// must not block) the write is spawned and happens when the caller next
/// yields; outside any runtime a small runtime is started to write it.
///
/// A future dropped before it completes is recorded as `cancelled` (the
/// operation may have happened), and a panic as `failure` with the reason
/// `panicked`; inside the layer the layer does this.
///
/// # What is captured without arguments
///
/// Take `async fn update(Path(id): Path<String>, user: CurrentUser,
/// Json(body): Json<UpdateProject>) -> Result<Json<Project>, ApiError>`:
///
/// | field | from |
/// |---|---|
/// | `event`, `action` | `event = ".."`; the action from its verb |
/// | `resource` | type: the event name's prefix (`project`); id: the path parameter (the last name bound by the last `Path` argument), or the `id` field of the returned value (create handlers) |
/// | `actor` | the first argument whose type implements [`AsActor`] (also `Option<T>` and wrappers that deref to one, such as `Extension<T>`), else what the layer found |
/// | `request` | the `Json`, `Form` and `Query` arguments, serialized: a single body directly, otherwise an object keyed by argument name |
/// | `response` | the `Ok` value (or the returned value) when it is `Serialize`, also through `Deref` (`Json<T>`) and in a `(StatusCode, Json<T>)` tuple |
/// | `outcome`, `reason` | `Err(e)` is a failure with `e`'s `Display` (or `Debug`) text; `Ok` and other values are a success, except that inside the layer the status code decides |
///
/// A function that takes no axum extractor captures all its serializable
/// arguments as the request, keyed by name (an argument that is the actor is
/// not request data). Parameters named `_x` are left alone everywhere. A tonic method (one returning `Result<Response<_>,
/// Status>`) captures the request message: `Serialize`, else (prost
/// messages) its `Debug` output read back as JSON, so that it is redacted
/// field by field like any JSON (output that cannot be read back is omitted,
/// never stored raw). An error `Status` gives the reason (its message) and
/// the outcome (`denied` for `PERMISSION_DENIED` and `UNAUTHENTICATED`).
///
/// Everything captured goes through the auditor's redactor before it is
/// stored; `redact(..)` removes more, and [`Sensitive<T>`] fields are never
/// captured in the clear.
///
/// ## How, and the limits
///
/// Extractors are recognised by syntax: the last segment of the argument's
/// type (`Json`, `Form`, `Query`, `Path`, `State`, `Extension`, ...), so a
/// renamed import or a type alias is not recognised. Everything else is
/// decided by the compiler through autoref specialization on the argument's
/// type (`AsActor`? `Serialize`? `Display`?), which needs no list of
/// arguments but only sees the bounds a generic function declares: an
/// argument of type `T` is captured only if `T: Serialize` is in the
/// signature. A `Result` is recognised by type, aliases included; the
/// `(StatusCode, Json<T>)` and tonic shapes are recognised by syntax (a
/// `Status` error must be `tonic::Status`). A handler returning `impl
/// IntoResponse` has no captured response unless the concrete type is
/// serializable. In an `async_trait` method, parameters written as patterns
/// (`Json(x): Json<T>`) are renamed by `async_trait` and are not seen.
///
/// # Arguments
///
/// | argument | meaning |
/// |---|---|
/// | `event = "project.update"` | required: the dotted `<resource>.<verb>` name |
/// | `action = "update"` | overrides the action derived from the verb: `create`, `read`, `update`, `delete`, `other` |
/// | `resource = "project"` | the resource type, instead of the event name's prefix |
/// | `resource_id = <expr>` | the resource id (any `Display` value), instead of the path parameter |
/// | `actor = <expr>` | the actor (anything that implements [`AsActor`]), instead of arguments and layer |
/// | `tenant = <expr>` | the tenant (any `Display` value) |
/// | `skip(arg, ...)` | ignore these arguments: not captured, not looked at for actor or id |
/// | `skip_all` | ignore every argument |
/// | `redact(arg.field.sub, ...)` | replace these captured fields (JSON names; every element of an array) with `"[REDACTED]"`; `redact(arg)` the whole argument |
/// | `capture(request = false, response = false)` | turn capture of the request or response off (both on by default) |
/// | `description = "{actor} renamed {resource}"` | the description, from `{actor}`, `{actor.id}`, `{actor.name}`, `{actor.email}`, `{actor.kind}`, `{resource}`, `{resource.type}`, `{resource.id}`, `{resource.name}`, `{tenant}`, `{event}`, `{action}`, `{metadata.KEY}`; `{{` and `}}` for braces. Default: `alice@example.com updated project p_42` |
/// | `metadata(key = <expr>, "x-key" = <expr>)` | metadata entries (any `Serialize` value) |
/// | `delivery = "strict"` | the delivery mode of this entry: `buffered`, `strict`, `best_effort`. Behind the layer, the layer enforces it; outside, the function waits until every sink has confirmed the entry, and a failure is logged and counted (the function's result cannot change) |
/// | `auditor = <expr>` | the auditor to record with outside a layer (`Auditor`, `&Auditor`, `Arc<Auditor>`...) |
/// | `crate = path` | where `audit_core` is, when it is renamed (default `::audit_core`) |
///
/// Expressions (`resource_id`, `actor`, `tenant`, `metadata`) are evaluated
/// before the body runs, with the arguments in scope; `auditor` only when the
/// function records its own entry. What is only known later, such as changes,
/// is added from the body through [`AuditScope::current`]:
///
/// ```
/// use audit_core::{AuditScope, Auditor, audited};
///
/// #[derive(Clone, serde::Serialize)]
/// struct Project {
///     name: String,
///     archived: bool,
/// }
///
/// #[audited(event = "project.archive", auditor = auditor, resource_id = "p_42", skip(project))]
/// fn archive(auditor: &Auditor, project: &mut Project) {
///     let before = project.clone();
///     project.archived = true;
///     if let Some(scope) = AuditScope::current() {
///         // changes: [{"path": "archived", "before": false, "after": true}]
///         scope.record_changes(&before, &*project);
///     }
/// }
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # let auditor = rt.block_on(async { Auditor::builder().sink(audit_core::testing::MemorySink::new()).build() }).unwrap();
/// # archive(&auditor, &mut Project { name: "Apollo".into(), archived: false });
/// # rt.block_on(auditor.shutdown(std::time::Duration::from_secs(5))).unwrap();
/// ```
///
/// # axum and tonic
///
/// ```text
/// use audit_core::audited;
/// use axum::{Json, extract::Path};
///
/// // `CurrentUser: AsActor`; `UpdateProject: Deserialize + Serialize`.
/// #[audited(event = "project.update", redact(body.webhook_secret))]
/// async fn update(
///     Path(id): Path<String>,
///     user: CurrentUser,
///     Json(body): Json<UpdateProject>,
/// ) -> Result<Json<Project>, ApiError> {
///     // ...
/// }
///
/// #[tonic::async_trait]
/// impl projects_server::Projects for Service {
///     #[audited(event = "project.delete")]
///     async fn delete_project(
///         &self,
///         request: Request<DeleteProjectRequest>,
///     ) -> Result<Response<()>, Status> {
///         // ...
///     }
/// }
/// ```
///
/// # Where it can go
///
/// `async fn` and `fn`, free functions and methods (`self`, `&self`, `&mut
/// self`), generic functions, any return type (`Result`, `impl IntoResponse`,
/// anything else) and `async_trait` methods (tonic services). The signature is
/// not changed; `return` and `?` in the body are audited like any other
/// return. Not on `const fn` or functions returning `!`.
///
/// [`AuditScope`]: ../audit_core/struct.AuditScope.html
/// [`AuditScope::current`]: ../audit_core/struct.AuditScope.html#method.current
/// [`AsActor`]: ../audit_core/event/trait.AsActor.html
/// [`Sensitive<T>`]: ../audit_core/redact/struct.Sensitive.html
/// [`set_global_auditor`]: ../audit_core/fn.set_global_auditor.html
#[proc_macro_attribute]
pub fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::audited(args.into(), item.into()).into()
}
