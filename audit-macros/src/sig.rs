//! What the macro learns from the function's syntax: the parameters and what
//! they are (axum extractors, a tonic request, plain values), the return type,
//! and whether the body is an `async_trait`-style `Box::pin(async move { .. })`.

use proc_macro2::Span;
use syn::visit_mut::VisitMut;
use syn::{
    Block, Expr, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Stmt, Type,
    TypeParamBound,
};

use crate::attr::{Args, Ctxt};

/// axum extractors that are not request data. A handler that takes any
/// extractor is a handler: only its `Json`, `Form` and `Query` arguments are
/// captured as the request.
const OTHER_EXTRACTORS: &[&str] = &[
    "State",
    "Extension",
    "ConnectInfo",
    "HeaderMap",
    "Method",
    "Uri",
    "OriginalUri",
    "MatchedPath",
    "RawQuery",
    "RawForm",
    "RawPathParams",
    "Multipart",
    "WebSocketUpgrade",
    "TypedHeader",
    "Host",
    "NestedPath",
    "Extensions",
    "CookieJar",
    "SignedCookieJar",
    "PrivateCookieJar",
    "Version",
];

/// What a parameter is, judged by its type's last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `Json<T>`, `Form<T>`: the request body.
    Body,
    /// `Query<T>`: the query parameters.
    Query,
    /// `Path<T>`: the resource id.
    Path,
    /// Another axum extractor.
    Extractor,
    /// `Request<T>` of a tonic method.
    GrpcRequest,
    /// Anything else.
    Plain,
}

/// One parameter of the function.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) kind: Kind,
    /// The names the pattern binds, in order; for `name: Ty` just `name`.
    pub(crate) bindings: Vec<Ident>,
    /// `name` for a parameter written `name: Ty`.
    pub(crate) whole: Option<Ident>,
}

/// How the function is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// An axum handler: captures `Json`, `Form` and `Query` arguments.
    Handler,
    /// A tonic method: captures the request message.
    Grpc,
    /// Anything else: captures every serializable argument.
    Function,
}

/// How to reach the response value from the `Ok` value (or the return value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Projection {
    /// The value itself.
    Itself,
    /// A tuple element, e.g. the `Json<T>` of `(StatusCode, Json<T>)`.
    Field(usize),
    /// `tonic::Response::get_ref`.
    GetRef,
}

/// Where the body to wrap is.
pub(crate) enum BodyShape<'a> {
    /// `async fn`.
    AsyncFn,
    /// `fn`.
    SyncFn,
    /// A `fn` whose last expression is an `async move` block, optionally in
    /// `Box::pin(..)`, as `async_trait` generates.
    AsyncBlock {
        /// The statements before the last expression.
        before: &'a [Stmt],
        /// The attributes of the async block.
        attrs: &'a [syn::Attribute],
        /// The async block's own block.
        block: &'a Block,
        /// Whether it was in `Box::pin`.
        pinned: bool,
    },
}

/// Everything [`crate::expand`] needs.
pub(crate) struct Analysis<'a> {
    pub(crate) params: Vec<Param>,
    pub(crate) mode: Mode,
    pub(crate) shape: BodyShape<'a>,
    /// The type to annotate the result with (`impl Trait` replaced by `_`),
    /// if it is known.
    pub(crate) ret: Option<Type>,
    pub(crate) projection: Projection,
    /// The resource type: `resource = ".."` or the event name's prefix.
    pub(crate) resource_type: Option<String>,
}

/// Analyses the function and checks the arguments against it.
pub(crate) fn analyze<'a>(func: &'a ItemFn, args: &Args, cx: &mut Ctxt) -> Analysis<'a> {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        cx.error(c, "`#[audited]` cannot be used on a `const fn`: recording an entry is not a const operation");
    }
    let shape = match (&sig.asyncness, async_block(&func.block)) {
        (Some(_), _) => BodyShape::AsyncFn,
        (None, Some(shape)) => shape,
        (None, None) => BodyShape::SyncFn,
    };
    let async_trait = matches!(shape, BodyShape::AsyncBlock { .. });

    let declared = match &sig.output {
        ReturnType::Default => Some(syn::parse_quote!(())),
        ReturnType::Type(_, ty) if async_trait => future_output(ty),
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    if let Some(never @ Type::Never(_)) = &declared {
        cx.error(never, "`#[audited]` cannot be used on a function that never returns");
    }

    let grpc = declared.as_ref().is_some_and(is_grpc_result);
    let params: Vec<Param> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Receiver(_) => None,
            FnArg::Typed(t) => Some(param(&t.pat, &t.ty, grpc, async_trait)),
        })
        .collect();
    let handler = params
        .iter()
        .any(|p| matches!(p.kind, Kind::Body | Kind::Query | Kind::Path | Kind::Extractor));
    let mode = if grpc {
        Mode::Grpc
    } else if handler {
        Mode::Handler
    } else {
        Mode::Function
    };

    check_names(args, &params, cx);

    let resource_type = args.resource.as_ref().map(syn::LitStr::value).or_else(|| {
        let event = args.event.as_ref()?.value();
        event.rsplit_once('.').map(|(ty, _)| ty.to_owned()).filter(|ty| !ty.is_empty())
    });
    if let (Some(expr), None) = (&args.resource_id, &resource_type) {
        cx.error(
            expr,
            "`resource_id` needs a resource type: name it with `resource = \"...\"`, or use a \
             dotted event name like \"project.update\"",
        );
    }

    let projection = match &declared {
        Some(_) if grpc => Projection::GetRef,
        Some(ty) => tuple_json_field(ok_type(ty)).map_or(Projection::Itself, Projection::Field),
        None => Projection::Itself,
    };
    let ret = declared.map(|mut ty| {
        ImplTraitToInfer.visit_type_mut(&mut ty);
        ty
    });
    Analysis { params, mode, shape, ret, projection, resource_type }
}

/// `skip(..)` and `redact(..)` must name parameters.
fn check_names(args: &Args, params: &[Param], cx: &mut Ctxt) {
    let names: Vec<String> = params
        .iter()
        .flat_map(|p| p.whole.iter().chain(&p.bindings))
        .map(Ident::to_string)
        .fold(Vec::new(), |mut acc, n| {
            if !acc.contains(&n) {
                acc.push(n);
            }
            acc
        });
    let known = |ident: &Ident| names.iter().any(|n| ident == n);
    let list = || {
        if names.is_empty() {
            "the function has no parameters".to_owned()
        } else {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("the parameters are {}", quoted.join(", "))
        }
    };
    for ident in &args.skip {
        if !known(ident) {
            cx.error(
                ident,
                format!("cannot skip `{ident}`: there is no such parameter; {}", list()),
            );
        }
    }
    for path in &args.redact {
        if !known(&path.arg) {
            cx.error(
                &path.arg,
                format!("cannot redact `{}`: there is no such parameter; {}", path.arg, list()),
            );
        }
    }
}

fn param(pat: &Pat, ty: &Type, grpc: bool, async_trait: bool) -> Param {
    let mut bindings = Vec::new();
    bindings_of(pat, &mut bindings);
    // `async_trait` renames destructured parameters to hygienic `__argN`
    // that generated code cannot name.
    if async_trait {
        bindings.retain(|b| {
            let s = b.to_string();
            !(s.starts_with("__arg") || s == "__self")
        });
    }
    let whole = match pat {
        Pat::Ident(p) if p.subpat.is_none() && bindings.contains(&p.ident) => Some(p.ident.clone()),
        _ => None,
    };
    let kind = match last_segment(ty) {
        Some((name, _)) if name == "Json" || name == "Form" => Kind::Body,
        Some((name, _)) if name == "Query" => Kind::Query,
        Some((name, _)) if name == "Path" => Kind::Path,
        Some((name, args)) if name == "Request" && grpc && whole.is_some() => {
            let body_like = first_type_arg(args)
                .and_then(last_segment)
                .is_some_and(|(n, _)| n == "Body" || n == "Incoming");
            if first_type_arg(args).is_some() && !body_like {
                Kind::GrpcRequest
            } else {
                Kind::Plain
            }
        }
        Some((name, _)) if OTHER_EXTRACTORS.iter().any(|e| name == e) => Kind::Extractor,
        _ => Kind::Plain,
    };
    Param { kind, bindings, whole }
}

fn bindings_of(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                bindings_of(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| bindings_of(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| bindings_of(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| bindings_of(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| bindings_of(p, out)),
        Pat::Reference(r) => bindings_of(&r.pat, out),
        Pat::Paren(p) => bindings_of(&p.pat, out),
        Pat::Type(t) => bindings_of(&t.pat, out),
        Pat::Or(o) => {
            if let Some(first) = o.cases.first() {
                bindings_of(first, out);
            }
        }
        _ => {}
    }
}

/// The last path segment of a type path, with its generic arguments.
fn last_segment(ty: &Type) -> Option<(&Ident, &PathArguments)> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| (&s.ident, &s.arguments))
        }
        Type::Paren(p) => last_segment(&p.elem),
        Type::Group(g) => last_segment(&g.elem),
        _ => None,
    }
}

fn type_args(args: &PathArguments) -> impl Iterator<Item = &Type> {
    let list = match args {
        PathArguments::AngleBracketed(a) => Some(&a.args),
        _ => None,
    };
    list.into_iter().flatten().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn first_type_arg(args: &PathArguments) -> Option<&Type> {
    type_args(args).next()
}

/// `Result<Response<_>, Status>`: a tonic method.
fn is_grpc_result(ty: &Type) -> bool {
    let Some((name, args)) = last_segment(ty) else { return false };
    let mut it = type_args(args);
    let (Some(ok), Some(err), None) = (it.next(), it.next(), it.next()) else { return false };
    name == "Result"
        && last_segment(ok).is_some_and(|(n, _)| n == "Response")
        && last_segment(err).is_some_and(|(n, _)| n == "Status")
}

/// The `Ok` type of something spelled `...Result<T, ..>`, else the type.
fn ok_type(ty: &Type) -> &Type {
    match last_segment(ty) {
        Some((name, args)) if name == "Result" => first_type_arg(args).unwrap_or(ty),
        _ => ty,
    }
}

/// In a tuple with exactly one `Json<T>` element, its index.
fn tuple_json_field(ty: &Type) -> Option<usize> {
    let Type::Tuple(t) = ty else { return None };
    let mut found = t
        .elems
        .iter()
        .enumerate()
        .filter(|(_, e)| last_segment(e).is_some_and(|(n, _)| n == "Json"));
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// `Output` of a `dyn Future<Output = T>` or `impl Future<Output = T>`,
/// wherever it is nested (`Pin<Box<..>>`).
fn future_output(ty: &Type) -> Option<Type> {
    let bounds = match ty {
        Type::TraitObject(t) => Some(&t.bounds),
        Type::ImplTrait(t) => Some(&t.bounds),
        _ => None,
    };
    if let Some(bounds) = bounds {
        for bound in bounds {
            let TypeParamBound::Trait(t) = bound else { continue };
            let Some(seg) = t.path.segments.last() else { continue };
            if seg.ident != "Future" {
                continue;
            }
            if let PathArguments::AngleBracketed(a) = &seg.arguments {
                for arg in &a.args {
                    if let GenericArgument::AssocType(assoc) = arg
                        && assoc.ident == "Output"
                    {
                        return Some(assoc.ty.clone());
                    }
                }
            }
        }
        return None;
    }
    match ty {
        Type::Path(p) => {
            p.path.segments.last().and_then(|s| type_args(&s.arguments).find_map(future_output))
        }
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

/// The `Box::pin(async move { .. })` (or bare `async move { .. }`) that ends
/// the body of an `async_trait` method, as tracing's `#[instrument]` does.
fn async_block(block: &Block) -> Option<BodyShape<'_>> {
    let (last, before) = block.stmts.split_last()?;
    let Stmt::Expr(expr, None) = last else { return None };
    let (expr, pinned) = match expr {
        Expr::Call(call) => {
            let Expr::Path(path) = &*call.func else { return None };
            let segs: Vec<String> =
                path.path.segments.iter().map(|s| s.ident.to_string()).collect();
            if !segs.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
                return None;
            }
            (&call.args[0], true)
        }
        other => (other, false),
    };
    match expr {
        Expr::Async(a) if a.capture.is_some() => {
            Some(BodyShape::AsyncBlock { before, attrs: &a.attrs, block: &a.block, pinned })
        }
        _ => None,
    }
}

/// Replaces `impl Trait` with `_`, so the type can annotate a `let`.
struct ImplTraitToInfer;

impl VisitMut for ImplTraitToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(i) = ty {
            let span = i.impl_token.span;
            *ty = Type::Infer(syn::TypeInfer { underscore_token: syn::Token![_](span) });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// A string literal for a parameter name.
pub(crate) fn name_lit(ident: &Ident) -> syn::LitStr {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    syn::LitStr::new(name, Span::call_site())
}

#[cfg(test)]
fn show(ty: &Type) -> String {
    quote::ToTokens::to_token_stream(ty).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    type Summary = (Mode, Vec<(Kind, Vec<String>)>, Option<String>, Projection);

    fn analyze_fn(func: &ItemFn) -> Summary {
        let mut cx = Ctxt::default();
        let args = crate::attr::parse(quote::quote!(event = "project.update"), &mut cx);
        let a = analyze(func, &args, &mut cx);
        cx.finish().unwrap();
        let params = a
            .params
            .iter()
            .map(|p| (p.kind, p.bindings.iter().map(ToString::to_string).collect()))
            .collect();
        (a.mode, params, a.ret.as_ref().map(show), a.projection)
    }

    #[test]
    fn recognises_axum_handlers() {
        let f: ItemFn = parse_quote! {
            async fn update(
                Path((org, id)): Path<(String, String)>,
                State(db): State<Db>,
                user: CurrentUser,
                Json(body): Json<UpdateProject>,
            ) -> Result<(StatusCode, Json<Project>), ApiError> { todo!() }
        };
        let (mode, params, ret, proj) = analyze_fn(&f);
        assert_eq!(mode, Mode::Handler);
        assert_eq!(
            params,
            [
                (Kind::Path, vec!["org".into(), "id".into()]),
                (Kind::Extractor, vec!["db".into()]),
                (Kind::Plain, vec!["user".into()]),
                (Kind::Body, vec!["body".into()]),
            ]
        );
        assert_eq!(ret.unwrap(), "Result < (StatusCode , Json < Project >) , ApiError >");
        assert_eq!(proj, Projection::Field(1));
    }

    #[test]
    fn recognises_async_trait_tonic_methods() {
        let f: ItemFn = parse_quote! {
            fn update<'life0, 'async_trait>(
                &'life0 self,
                request: tonic::Request<UpdateRequest>,
            ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<
                Output = Result<tonic::Response<Project>, tonic::Status>
            > + ::core::marker::Send + 'async_trait>> {
                Box::pin(async move { let __self = self; todo!() })
            }
        };
        let (mode, params, ret, proj) = analyze_fn(&f);
        assert_eq!(mode, Mode::Grpc);
        assert_eq!(params, [(Kind::GrpcRequest, vec!["request".into()])]);
        assert_eq!(ret.unwrap(), "Result < tonic :: Response < Project > , tonic :: Status >");
        assert_eq!(proj, Projection::GetRef);
        assert!(matches!(analyze_shape(&f), "async-block"));
    }

    fn analyze_shape(f: &ItemFn) -> &'static str {
        match async_block(&f.block) {
            Some(_) => "async-block",
            None => "fn",
        }
    }

    #[test]
    fn plain_functions_and_impl_trait() {
        let f: ItemFn = parse_quote! {
            fn rotate(key_id: &str, (a, b): (u8, u8), _: Ignored) -> impl Serialize { 1 }
        };
        let (mode, params, ret, _) = analyze_fn(&f);
        assert_eq!(mode, Mode::Function);
        assert_eq!(params[1].1, ["a", "b"]);
        assert!(params[2].1.is_empty());
        assert_eq!(ret.unwrap(), "_");
    }

    #[test]
    fn names_must_exist() {
        let f: ItemFn = parse_quote! { fn f(Json(body): Json<B>, id: u8) {} };
        let mut cx = Ctxt::default();
        let args = crate::attr::parse(
            quote::quote!(event = "a.b", skip(bdy), redact(nope.x), resource_id = 1),
            &mut cx,
        );
        analyze(&f, &args, &mut cx);
        let errs: Vec<String> =
            cx.finish().unwrap_err().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains(
            "cannot skip `bdy`: there is no such parameter; the parameters are `body`, `id`"
        ));
        assert!(errs[1].contains("cannot redact `nope`"));
    }
}
