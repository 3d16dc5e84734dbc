//! Which requests are audited, and how much of them is kept.

use audit_core::{Action, Delivery};
use http::Method;

/// How much of a request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Level {
    /// Not audited (an `#[audited]` handler is audited anyway, at `Metadata`).
    #[default]
    None,
    /// Who, what, when, from where, and the outcome: no bodies.
    Metadata,
    /// `Metadata` plus the request body (JSON and forms, size-capped).
    Request,
    /// `Request` plus the response body.
    RequestResponse,
}

/// The protocol of a request, as a rule can match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Plain HTTP.
    Http,
    /// gRPC (`content-type: application/grpc...`).
    Grpc,
}

/// One rule of a [`Policy`]: what it matches and what it decides.
///
/// Every matcher that is set must match (the methods, routes and paths given
/// to one rule are alternatives). A rule with no matcher matches every
/// request.
///
/// ```
/// use audit_tower::{Level, Rule};
/// use http::Method;
///
/// let rule = Rule::new()
///     .method(Method::POST)
///     .route("/projects")
///     .level(Level::Request)
///     .event("project.create");
/// # let _ = rule;
/// ```
#[derive(Debug, Clone)]
#[must_use = "a rule does nothing until it is added to a policy"]
pub struct Rule {
    methods: Vec<Method>,
    routes: Vec<String>,
    paths: Vec<String>,
    protocol: Option<Protocol>,
    actions: Vec<Action>,
    level: Level,
    event: Option<String>,
    delivery: Option<Delivery>,
}

impl Default for Rule {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule {
    /// A rule that matches every request, at [`Level::Metadata`].
    pub fn new() -> Self {
        Self {
            methods: Vec::new(),
            routes: Vec::new(),
            paths: Vec::new(),
            protocol: None,
            actions: Vec::new(),
            level: Level::Metadata,
            event: None,
            delivery: None,
        }
    }

    /// Matches this method (call again to add alternatives).
    pub fn method(mut self, method: Method) -> Self {
        self.methods.push(method);
        self
    }

    /// Matches any of these methods.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods.extend(methods);
        self
    }

    /// Matches the route template (axum's `MatchedPath`, e.g.
    /// `/projects/{id}`; for gRPC the path `/package.Service/Method`) against
    /// a glob: `*` matches within one segment, `**` across segments. Without
    /// a template the raw path is matched instead. Call again to add
    /// alternatives.
    pub fn route(mut self, glob: impl Into<String>) -> Self {
        self.routes.push(glob.into());
        self
    }

    /// Matches the raw request path (without the query) against a glob, as
    /// [`route`](Self::route) does. Call again to add alternatives.
    pub fn path(mut self, glob: impl Into<String>) -> Self {
        self.paths.push(glob.into());
        self
    }

    /// Matches only plain HTTP or only gRPC requests.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Matches the action of the request's event name (the rule's own event,
    /// else the derived one): e.g. `Action::Read` for a gRPC `GetProject`.
    /// Call again to add alternatives.
    pub fn action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// What the rule decides (default [`Level::Metadata`]).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Names the event of matching requests, e.g. `project.create` (default:
    /// derived from the route; see [`event_name_for_route`](crate::event_name_for_route)).
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(name.into());
        self
    }

    /// The delivery mode of matching requests' entries (default: the
    /// auditor's). With [`Delivery::Strict`] the request is audited before its
    /// handler runs and refused when that entry cannot be written.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(delivery);
        self
    }

    fn matches(&self, req: &RequestFacts<'_>, derived_event: &str) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == req.method) {
            return false;
        }
        if self.protocol.is_some_and(|p| p != req.protocol) {
            return false;
        }
        let route = req.route.unwrap_or(req.path);
        if !self.routes.is_empty() && !self.routes.iter().any(|g| glob_match(g, route)) {
            return false;
        }
        if !self.paths.is_empty() && !self.paths.iter().any(|g| glob_match(g, req.path)) {
            return false;
        }
        if !self.actions.is_empty() {
            let action = Action::from_event_name(self.event.as_deref().unwrap_or(derived_event));
            if !self.actions.contains(&action) {
                return false;
            }
        }
        true
    }
}

/// Ordered rules; the first match wins.
///
/// A [`Policy`] is an ordered list of [`Rule`]s; the first rule that matches a
/// request decides its [`Level`], its event name and its delivery mode, as in
/// Kubernetes' audit policy. A request that no rule matches is not audited,
/// unless its handler is `#[audited]` (the handler marks the scope, and the
/// layer checks the mark when the request completes).
///
/// [`Policy::default`] audits mutations at [`Level::Metadata`]:
///
/// ```
/// use audit_core::Action;
/// use audit_tower::{Level, Policy, Protocol, Rule};
/// use http::Method;
///
/// // What Policy::default() is:
/// let policy = Policy::new()
///     // gRPC calls are all POSTs: skip the reads (GetX, ListX, ...)
///     .rule(Rule::new().protocol(Protocol::Grpc).action(Action::Read).level(Level::None))
///     .rule(
///         Rule::new()
///             .methods([Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
///             .level(Level::Metadata),
///     );
/// # let _ = policy;
/// ```
#[derive(Debug, Clone)]
#[must_use = "a policy does nothing until it is given to the layer"]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
            .rule(Rule::new().protocol(Protocol::Grpc).action(Action::Read).level(Level::None))
            .rule(
                Rule::new()
                    .methods([Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
                    .level(Level::Metadata),
            )
    }
}

impl Policy {
    /// A policy without rules: nothing is audited but `#[audited]` handlers.
    pub fn new() -> Self {
        Self { rules: Vec::new() }
    }

    /// Appends a rule; earlier rules take precedence.
    ///
    /// Rules appended to [`Policy::default`] come after its mutation rule, so
    /// they only decide for what it does not match (reads); use
    /// [`prepend`](Self::prepend) to refine the defaults.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Inserts a rule before every other rule.
    ///
    /// ```
    /// use audit_tower::{Level, Policy, Rule};
    /// use http::Method;
    ///
    /// // Keep the request body of project creations; the defaults otherwise.
    /// let policy = Policy::default()
    ///     .prepend(Rule::new().method(Method::POST).route("/projects").level(Level::Request));
    /// # let _ = policy;
    /// ```
    pub fn prepend(mut self, rule: Rule) -> Self {
        self.rules.insert(0, rule);
        self
    }

    /// Decides for one request: the first matching rule, or [`Level::None`].
    pub(crate) fn decide(&self, req: &RequestFacts<'_>, derived_event: &str) -> Decision {
        self.rules
            .iter()
            .find(|r| r.matches(req, derived_event))
            .map(|r| Decision { level: r.level, event: r.event.clone(), delivery: r.delivery })
            .unwrap_or_default()
    }
}

/// What the policy needs to know about a request.
#[derive(Debug)]
pub(crate) struct RequestFacts<'a> {
    pub(crate) method: &'a Method,
    pub(crate) route: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) protocol: Protocol,
}

/// What the policy decided for a request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub(crate) level: Level,
    pub(crate) event: Option<String>,
    pub(crate) delivery: Option<Delivery>,
}

/// Glob matching: `*` matches any run of characters except `/`, `**` any run
/// at all; everything else matches itself.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => {
                let (deep, rest) = match rest.split_first() {
                    Some((b'*', r)) => (true, r),
                    _ => (false, rest),
                };
                for i in 0..=t.len() {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    if i < t.len() && !deep && t[i] == b'/' {
                        return false;
                    }
                }
                false
            }
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(method: &'a Method, route: Option<&'a str>, path: &'a str) -> RequestFacts<'a> {
        RequestFacts { method, route, path, protocol: Protocol::Http }
    }

    #[test]
    fn globs() {
        assert!(glob_match("/projects", "/projects"));
        assert!(!glob_match("/projects", "/projects/1"));
        assert!(glob_match("/projects/*", "/projects/{id}"));
        assert!(glob_match("/projects/*", "/projects/p_42"));
        assert!(!glob_match("/projects/*", "/projects/p_42/members"));
        assert!(glob_match("/projects/**", "/projects/p_42/members"));
        assert!(glob_match("/**/members", "/projects/p_42/members"));
        assert!(glob_match("**", "/anything/at/all"));
        assert!(glob_match("/admin*", "/admin-panel"));
        assert!(!glob_match("/admin*", "/admin/x"));
        assert!(glob_match("/p.v1.Projects/*", "/p.v1.Projects/UpdateProject"));
    }

    #[test]
    fn default_policy_audits_mutations_only() {
        let p = Policy::default();
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let d = p.decide(&facts(&m, Some("/p/{id}"), "/p/1"), "p.x");
            assert_eq!(d.level, Level::Metadata, "{m}");
        }
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert_eq!(p.decide(&facts(&m, None, "/p"), "p.read").level, Level::None, "{m}");
        }
        let grpc = |event: &str| {
            let f = RequestFacts {
                method: &Method::POST,
                route: None,
                path: "/p.v1.P/M",
                protocol: Protocol::Grpc,
            };
            p.decide(&f, event).level
        };
        assert_eq!(grpc("project.get"), Level::None);
        assert_eq!(grpc("project.list"), Level::None);
        assert_eq!(grpc("project.update"), Level::Metadata);
        assert_eq!(grpc("project.ping"), Level::Metadata);
    }

    #[test]
    fn first_match_wins() {
        let p = Policy::new()
            .rule(Rule::new().path("/health").level(Level::None))
            .rule(
                Rule::new()
                    .method(Method::POST)
                    .route("/projects")
                    .event("project.create")
                    .level(Level::Request),
            )
            .rule(
                Rule::new()
                    .route("/projects/**")
                    .level(Level::RequestResponse)
                    .delivery(Delivery::Strict),
            )
            .rule(Rule::new().method(Method::POST));
        let d = p.decide(&facts(&Method::POST, None, "/health"), "x");
        assert_eq!(d.level, Level::None);
        let d = p.decide(&facts(&Method::POST, Some("/projects"), "/projects"), "x");
        assert_eq!((d.level, d.event.as_deref()), (Level::Request, Some("project.create")));
        let d = p.decide(&facts(&Method::GET, Some("/projects/{id}"), "/projects/1"), "x");
        assert_eq!((d.level, d.delivery), (Level::RequestResponse, Some(Delivery::Strict)));
        let d = p.decide(&facts(&Method::POST, Some("/other"), "/other"), "x");
        assert_eq!(d.level, Level::Metadata);
        let d = p.decide(&facts(&Method::GET, Some("/other"), "/other"), "x");
        assert_eq!(d.level, Level::None);
    }

    #[test]
    fn prepended_rules_refine_the_defaults() {
        let p = Policy::default().prepend(Rule::new().route("/projects").level(Level::Request));
        let d = p.decide(&facts(&Method::POST, Some("/projects"), "/projects"), "x");
        assert_eq!(d.level, Level::Request);
        let p = Policy::default().rule(Rule::new().route("/projects").level(Level::Request));
        let d = p.decide(&facts(&Method::POST, Some("/projects"), "/projects"), "x");
        assert_eq!(d.level, Level::Metadata, "appended rules come after the defaults");
        let d = p.decide(&facts(&Method::GET, Some("/projects"), "/projects"), "x");
        assert_eq!(d.level, Level::Request);
    }

    #[test]
    fn route_falls_back_to_the_path() {
        let p = Policy::new().rule(Rule::new().route("/projects/*"));
        assert_eq!(p.decide(&facts(&Method::GET, None, "/projects/1"), "x").level, Level::Metadata);
    }

    #[test]
    fn levels_are_ordered() {
        assert!(Level::None < Level::Metadata);
        assert!(Level::Metadata < Level::Request);
        assert!(Level::Request < Level::RequestResponse);
    }
}
