//! Code generation for `#[audited]`.
//!
//! The user's signature is kept as it is; the body becomes:
//!
//! ```text
//! let __audit_begin = begin(event, delivery, || auditor);   // claim the layer's scope or open one
//! { fill the scope from the arguments (before they move into the body) }
//! let __audit_result: R = scope.scope(async move { body }).await;   // sync: scope.sync_scope(move || body)
//! { fill the scope from the result: outcome, response, resource, description }
//! if let Some(owned) = __audit_begin.owned { owned.finish().await }  // outside a layer: record
//! __audit_result
//! ```
//!
//! `return` and `?` in the body leave the inner `async move` block (or
//! closure), not the function, so they are audited like any other result.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, Block, Expr, Ident, ItemFn};

use crate::attr::{self, Args, Ctxt};
use crate::sig::{self, Analysis, BodyShape, Kind, Mode, Projection};

/// The attribute's entry point: errors are returned as `compile_error!`s next
/// to the unchanged function, so that they are the only errors reported.
pub(crate) fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed = attr::parse(args, &mut cx);
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            cx.push(syn::Error::new(
                Span::call_site(),
                "`#[audited]` goes on a function or method with a body",
            ));
            return with_errors(item, cx);
        }
    };
    let analysis = sig::analyze(&func, &parsed, &mut cx);
    match cx.finish() {
        Ok(()) => generate(&parsed, &func, &analysis),
        Err(e) => {
            let errors = e.to_compile_error();
            quote!(#item #errors)
        }
    }
}

/// A span at the user's expression that still counts as macro-generated
/// (for lints): type errors in the code around an argument's expression point
/// at the expression.
fn at(expr: &Expr) -> Span {
    expr.span().resolved_at(Span::call_site())
}

fn with_errors(item: TokenStream, cx: Ctxt) -> TokenStream {
    let errors = cx.finish().err().map(|e| e.to_compile_error());
    quote!(#item #errors)
}

fn generate(args: &Args, func: &ItemFn, a: &Analysis<'_>) -> TokenStream {
    let outer = func.attrs.iter().filter(|at| matches!(at.style, AttrStyle::Outer));
    let inner = func.attrs.iter().filter(|at| matches!(at.style, AttrStyle::Inner(_)));
    let vis = &func.vis;
    let sig = &func.sig;
    let body = match &a.shape {
        BodyShape::AsyncFn => body(args, a, &func.block, true),
        BodyShape::SyncFn => body(args, a, &func.block, false),
        BodyShape::AsyncBlock { before, attrs, block, pinned } => {
            let body = body(args, a, block, true);
            let fut = quote!(#(#attrs)* async move { #body });
            let fut = if *pinned { quote!(::std::boxed::Box::pin(#fut)) } else { fut };
            quote!(#(#before)* #fut)
        }
    };
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #body
        }
    }
}

/// The new body (of the function, or of the async block).
fn body(args: &Args, a: &Analysis<'_>, block: &Block, is_async: bool) -> TokenStream {
    let krate = args.krate();
    let ms = quote!(#krate::macro_support);
    let event = args.event.as_ref().map(|e| quote!(#e)).unwrap_or_default();
    let delivery = match &args.delivery {
        Some(v) => quote!(::core::option::Option::Some(#krate::Delivery::#v)),
        None => quote!(::core::option::Option::None),
    };
    let auditor = match &args.auditor {
        Some(e) => {
            quote_spanned!(at(e)=> || ::core::option::Option::Some(#ms::auditor_of(&(#e))))
        }
        None => quote!(#ms::global_auditor),
    };
    let prefill = prefill(args, a, &ms, &krate);
    let after = after(args, a, &ms);

    let annotation = a.ret.as_ref().map(|ty| quote!(: #ty));
    let fake_return = a.ret.as_ref().map(|ty| {
        quote! {
            if let ::core::option::Option::Some(__audit_ret) = ::core::option::Option::None::<#ty> {
                #[allow(unreachable_code)]
                return __audit_ret;
            }
        }
    });
    let run = if is_async {
        quote!(__audit_begin.scope.clone().scope(async move { #fake_return #block }).await)
    } else {
        quote!(__audit_begin.scope.clone().sync_scope(move || { #fake_return #block }))
    };
    let finish = if is_async {
        quote!(__audit_owned.finish().await)
    } else {
        quote!(__audit_owned.finish_blocking())
    };

    quote! {
        let __audit_begin = #ms::begin(#event, #delivery, #auditor);
        #prefill
        #[allow(clippy::let_unit_value, clippy::let_with_type_underscore)]
        let __audit_result #annotation = #run;
        #after
        if let ::core::option::Option::Some(__audit_owned) = __audit_begin.owned {
            #finish;
        }
        __audit_result
    }
}

/// A name bound by a parameter, with what kind of parameter it came from.
struct Binding<'a> {
    ident: &'a Ident,
    kind: Kind,
}

/// The bindings the macro may look at: all of them except `_name`s (unused
/// by intent), minus `skip(..)`, or none with `skip_all`.
fn bindings<'a>(args: &Args, a: &'a Analysis<'_>) -> Vec<Binding<'a>> {
    if args.skip_all.is_some() {
        return Vec::new();
    }
    a.params
        .iter()
        .flat_map(|p| p.bindings.iter().map(move |ident| Binding { ident, kind: p.kind }))
        .filter(|b| !args.skip.contains(b.ident) && !b.ident.to_string().starts_with('_'))
        .collect()
}

/// Fills the scope from the attribute and the arguments, before the body
/// runs (and moves them).
fn prefill(args: &Args, a: &Analysis<'_>, ms: &TokenStream, krate: &TokenStream) -> TokenStream {
    let mut stmts = Vec::new();
    let bindings = bindings(args, a);
    let rtype = a.resource_type.as_deref();

    if let Some(action) = &args.action {
        stmts.push(quote!(__audit_scope.set_action(#krate::Action::#action);));
    }

    // The resource id: explicit, else the (last name of the) last `Path`.
    if let Some(rtype) = rtype {
        if let Some(expr) = &args.resource_id {
            stmts.push(quote_spanned! {at(expr)=>
                __audit_scope.set_resource_id(#rtype, ::std::string::ToString::to_string(&(#expr)));
            });
        } else if a.mode == Mode::Handler {
            let path = a
                .params
                .iter()
                .rev()
                .find(|p| p.kind == Kind::Path)
                .and_then(|p| p.bindings.last())
                .filter(|id| bindings.iter().any(|b| b.ident == *id));
            if let Some(id) = path {
                stmts.push(quote! {
                    #ms::resource_id(__audit_scope, #rtype, (&&&&#ms::Probe(&#id)).__audit_id());
                });
            }
        }
    }

    // The actor: the first argument that is one, then `actor = ..`.
    let probes: Vec<TokenStream> = bindings
        .iter()
        .map(|b| {
            let id = b.ident;
            quote!((&&&#ms::Probe(&#id)).__audit_actor())
        })
        .collect();
    match probes.as_slice() {
        [] => {}
        [one] => stmts.push(quote! {
            if let ::core::option::Option::Some(__audit_actor) = #one {
                __audit_scope.set_actor(__audit_actor);
            }
        }),
        many => stmts.push(quote! {
            if let ::core::option::Option::Some(__audit_actor) =
                [#(#many),*].into_iter().flatten().next()
            {
                __audit_scope.set_actor(__audit_actor);
            }
        }),
    }
    if let Some(expr) = &args.actor {
        stmts.push(quote_spanned!(at(expr)=> __audit_scope.set_actor(&(#expr));));
    }
    if let Some(expr) = &args.tenant {
        stmts.push(quote_spanned! {at(expr)=>
            __audit_scope.set_tenant(::std::string::ToString::to_string(&(#expr)));
        });
    }
    for (key, expr) in &args.metadata {
        stmts.push(quote_spanned!(at(expr)=> __audit_scope.set_metadata(#key, &(#expr));));
    }
    if args.capture_request() {
        stmts.push(request_capture(args, a, &bindings, ms));
    }

    if stmts.is_empty() {
        return TokenStream::new();
    }
    quote! {
        {
            #[allow(unused_imports)]
            use #ms::{
                ActorDirect as _, ActorOption as _, ActorDeref as _, ActorNone as _,
                ArgActor as _, ArgSerialize as _, ArgDeref as _, ArgNone as _,
                MessageSerialize as _, MessageDeref as _, MessageDebug as _, MessageNone as _,
                IdDisplay as _, IdDeref as _, IdSerialize as _, IdDerefSerialize as _, IdNone as _,
            };
            let __audit_scope = &__audit_begin.scope;
            #(#stmts)*
        }
    }
}

/// The request: `Json`/`Form`/`Query` arguments of a handler, the message of
/// a tonic request, or every argument of a plain function.
fn request_capture(
    args: &Args,
    a: &Analysis<'_>,
    bindings: &[Binding<'_>],
    ms: &TokenStream,
) -> TokenStream {
    let selected: Vec<&Binding<'_>> = bindings
        .iter()
        .filter(|b| match a.mode {
            Mode::Handler => matches!(b.kind, Kind::Body | Kind::Query),
            Mode::Grpc => b.kind == Kind::GrpcRequest,
            Mode::Function => true,
        })
        .collect();
    if selected.is_empty() {
        return TokenStream::new();
    }
    let direct = match a.mode {
        Mode::Handler => selected.len() == 1 && selected[0].kind == Kind::Body,
        Mode::Grpc => selected.len() == 1,
        Mode::Function => false,
    };
    let adds = selected.iter().map(|b| {
        let id = b.ident;
        let name = sig::name_lit(id);
        if b.kind == Kind::GrpcRequest {
            quote!(__audit_req.add(#name, (&&&#ms::Probe(#id.get_ref())).__audit_message());)
        } else {
            quote!(__audit_req.add(#name, (&&&#ms::Probe(&#id)).__audit_arg());)
        }
    });
    let redacts = args.redact.iter().map(|p| {
        let parts = std::iter::once(&p.arg).chain(&p.fields).map(sig::name_lit);
        quote!(__audit_req.redact(&[#(#parts),*]);)
    });
    quote! {
        let mut __audit_req = #ms::ArgsCapture::new(#direct);
        #(#adds)*
        #(#redacts)*
        if let ::core::option::Option::Some(__audit_body) = __audit_req.finish() {
            __audit_scope.set_request_body(__audit_body);
        }
    }
}

/// Fills the scope from the result: outcome, response, resource, description.
fn after(args: &Args, a: &Analysis<'_>, ms: &TokenStream) -> TokenStream {
    let reported = if a.mode == Mode::Grpc {
        quote! {
            match &__audit_result {
                ::core::result::Result::Ok(_) => #ms::Reported::Ok,
                ::core::result::Result::Err(__audit_e) => {
                    #ms::Reported::grpc(__audit_e.code(), __audit_e.message())
                }
            }
        }
    } else {
        quote!((&&&#ms::Probe(&__audit_result)).__audit_outcome())
    };
    let response = if args.capture_response() {
        let value = format_ident!("__audit_ok");
        let projected = match &a.projection {
            Projection::Itself => quote!(#value),
            Projection::Field(i) => {
                let i = syn::Index::from(*i);
                quote!(&#value.#i)
            }
            Projection::GetRef => quote!(#value.get_ref()),
        };
        // A gRPC response message is read like the request message.
        let capture = if a.mode == Mode::Grpc {
            quote!((&&&#ms::Probe(#projected)).__audit_message())
        } else {
            quote!((&&#ms::Probe(#projected)).__audit_value())
        };
        quote! {
            match (&#ms::Probe(&__audit_result)).__audit_ok() {
                ::core::option::Option::Some(#value) => #capture,
                ::core::option::Option::None => ::core::option::Option::None,
            }
        }
    } else {
        quote!(::core::option::Option::None)
    };
    let option = |v: Option<String>| match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let rtype = option(a.resource_type.clone());
    let description = option(args.description.as_ref().map(syn::LitStr::value));
    quote! {
        {
            #[allow(unused_imports)]
            use #ms::{
                OutcomeDisplay as _, OutcomeDebug as _, OutcomeResult as _, OutcomeValue as _,
                OkOfResult as _, OkOfValue as _, ValueSerialize as _, ValueDeref as _,
                ValueNone as _, MessageSerialize as _, MessageDeref as _, MessageDebug as _,
                MessageNone as _,
            };
            let __audit_reported = #reported;
            let __audit_response = #response;
            #ms::after(
                &__audit_begin.scope,
                __audit_begin.owned.is_some(),
                #ms::After {
                    reported: __audit_reported,
                    response: __audit_response,
                    resource_type: #rtype,
                    description: #description,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        audited(args, item).to_string()
    }

    #[test]
    fn keeps_the_signature_and_prefixes_generated_names() {
        let out = expand(
            quote!(event = "project.update"),
            quote!(
                pub async fn update(
                    Path(id): Path<String>,
                    Json(body): Json<B>,
                ) -> Result<Json<P>, E> {
                    todo!()
                }
            ),
        );
        assert!(
            out.starts_with(
                "pub async fn update (Path (id) : Path < String > , Json (body) : Json < B > ,) -> \
                 Result < Json < P > , E >"
            ),
            "{out}"
        );
        assert!(out.contains("__audit_begin"), "{out}");
        assert!(
            out.contains(":: audit_core :: macro_support :: begin (\"project.update\""),
            "{out}"
        );
        assert!(out.contains("ArgsCapture :: new (true)"), "{out}");
        assert!(out.contains("__audit_id"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expand(
            quote!(evnt = "x"),
            quote!(
                fn f() {}
            ),
        );
        assert!(out.starts_with("fn f () { }"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
    }

    #[test]
    fn crate_path_is_used() {
        let out = expand(
            quote!(event = "a.b", crate = ::my_audit),
            quote!(
                fn f() {}
            ),
        );
        assert!(out.contains(":: my_audit :: macro_support :: begin"), "{out}");
        assert!(!out.contains("audit_core"), "{out}");
    }
}
