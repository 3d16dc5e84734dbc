//! Who performed the request: the [`MakeActor`] extension point.

use std::fmt;
use std::marker::PhantomData;

use audit_core::{Actor, AsActor};
use http::Request;

/// Finds the actor of a request.
///
/// The layer asks its `MakeActor` once per request, before calling the inner
/// service. What it returns becomes the scope's actor; the handler can still
/// replace it ([`AuditScope::set_actor`](audit_core::AuditScope::set_actor)).
/// No actor at all is recorded as `anonymous`.
///
/// Authentication middleware usually runs *inside* the audit layer, so that
/// rejected requests are audited too; it then finds the request's
/// [`AuditScope`](audit_core::AuditScope) in the request extensions and sets
/// the actor there:
///
/// ```
/// use audit_core::{Actor, AuditScope};
///
/// fn on_authenticated(request: &http::Request<()>, user_id: &str) {
///     if let Some(scope) = request.extensions().get::<AuditScope>() {
///         scope.set_actor(Actor::user(user_id));
///     }
/// }
/// # on_authenticated(&http::Request::new(()), "u_1");
/// ```
///
/// When authentication runs *outside* the layer and leaves the identity in
/// the request extensions, the default [`DefaultMakeActor`] picks up an
/// [`Actor`], and [`ExtensionActor`] any type implementing [`AsActor`].
///
/// Implemented by `()` (no actor: the handler sets it, or the entry says
/// `anonymous`), by [`DefaultMakeActor`], [`ExtensionActor`], and by closures
/// `FnMut(&Request<B>) -> Option<Actor>`.
///
/// Set with [`AuditLayer::make_actor`](crate::AuditLayer::make_actor), which
/// makes it a type parameter of the layer and of the services it makes, as
/// [`AuditLayer::classify`](crate::AuditLayer::classify) does for
/// [`ClassifyOutcome`](crate::ClassifyOutcome). Each service has its own
/// clone and asks it in `call`, before the request moves on: hence
/// `&mut self`, and no `Send` or `'static` bound.
pub trait MakeActor<B> {
    /// The actor of this request, if known before the handler runs.
    fn make_actor(&mut self, request: &Request<B>) -> Option<Actor>;
}

impl<B> MakeActor<B> for () {
    fn make_actor(&mut self, _: &Request<B>) -> Option<Actor> {
        None
    }
}

impl<B, F> MakeActor<B> for F
where
    F: FnMut(&Request<B>) -> Option<Actor>,
{
    fn make_actor(&mut self, request: &Request<B>) -> Option<Actor> {
        self(request)
    }
}

/// The default: the [`Actor`] in the request extensions, if any.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultMakeActor;

impl DefaultMakeActor {
    /// The default actor extraction.
    pub fn new() -> Self {
        Self
    }
}

impl<B> MakeActor<B> for DefaultMakeActor {
    fn make_actor(&mut self, request: &Request<B>) -> Option<Actor> {
        request.extensions().get::<Actor>().cloned()
    }
}

/// Reads a `T` from the request extensions and turns it into an actor
/// through [`AsActor`], e.g. the application's own `CurrentUser`.
///
/// ```
/// use audit_core::{Actor, AsActor};
/// use audit_tower::{AuditLayer, ExtensionActor};
///
/// #[derive(Clone)]
/// struct CurrentUser { id: String, email: String }
///
/// impl AsActor for CurrentUser {
///     fn as_actor(&self) -> Actor {
///         Actor::user(&self.id).email(&self.email)
///     }
/// }
///
/// # fn layer(auditor: audit_core::Auditor) {
/// let layer = AuditLayer::new(auditor).make_actor(ExtensionActor::<CurrentUser>::new());
/// # let _ = layer;
/// # }
/// ```
pub struct ExtensionActor<T> {
    _type: PhantomData<fn() -> T>,
}

impl<T> ExtensionActor<T> {
    /// Reads a `T` from the request extensions.
    pub fn new() -> Self {
        Self { _type: PhantomData }
    }
}

impl<T> Default for ExtensionActor<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for ExtensionActor<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ExtensionActor<T> {}

impl<T> fmt::Debug for ExtensionActor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExtensionActor").field(&std::any::type_name::<T>()).finish()
    }
}

impl<B, T> MakeActor<B> for ExtensionActor<T>
where
    T: AsActor + Send + Sync + 'static,
{
    fn make_actor(&mut self, request: &Request<B>) -> Option<Actor> {
        request.extensions().get::<T>().map(AsActor::as_actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct User(&'static str);
    impl AsActor for User {
        fn as_actor(&self) -> Actor {
            Actor::user(self.0)
        }
    }

    #[test]
    fn impls() {
        let mut req = Request::new(());
        assert_eq!(DefaultMakeActor.make_actor(&req), None);
        assert_eq!(().make_actor(&req), None);
        req.extensions_mut().insert(Actor::service("billing"));
        req.extensions_mut().insert(User("u_1"));
        assert_eq!(DefaultMakeActor.make_actor(&req), Some(Actor::service("billing")));
        assert_eq!(ExtensionActor::<User>::new().make_actor(&req), Some(Actor::user("u_1")));
        let mut closure = |r: &Request<()>| r.headers().get("x-user").map(|_| Actor::user("h"));
        assert_eq!(closure.make_actor(&req), None);
    }
}
