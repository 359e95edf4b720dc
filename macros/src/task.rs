//! The expansion of `#[task]`, on `proc_macro2` so that it can be unit tested.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Attribute, FnArg, ItemFn, Lifetime, Pat, Path, Receiver, ReturnType, Token, Type, TypeBareFn,
    TypeImplTrait, TypeReference,
};

use crate::place::Place;

/// Expands `#[task(args)] item`, found at `place`. On error, the original item comes
/// back with the errors, so that the rest of the code (and the IDE) still sees it.
pub fn expand(args: TokenStream, item: TokenStream, place: Place) -> TokenStream {
    match try_expand(args, item.clone(), place) {
        Ok(expanded) => expanded,
        Err(err) => {
            let errors = err.to_compile_error();
            quote!(#item #errors)
        }
    }
}

/// The attribute's arguments, comma-separated: `raw` (a `Result` return type is not
/// flattened) and `crate = path::to::pulsar_async`.
struct Args {
    krate: Path,
    raw: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut krate: Path = syn::parse_quote!(::pulsar_async);
        let mut raw = false;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                input.parse::<Token![=]>()?;
                krate = input.call(Path::parse_mod_style)?;
            } else if input.peek(syn::Ident) && input.fork().parse::<syn::Ident>()? == "raw" {
                input.parse::<syn::Ident>()?;
                raw = true;
            } else {
                return Err(syn::Error::new(
                    input.span(),
                    "unknown #[task] argument: the arguments are `raw` and `crate = path::to::pulsar_async`",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Args { krate, raw })
    }
}

/// `true` when the return type is a path whose last segment is `Result` (`Result<T,
/// E>`, `io::Result<T>`, `anyhow::Result<T>`, ...): the one rule for `Result`s
/// flattens it into the promise.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Paren(inner) => is_result(&inner.elem),
        Type::Group(inner) => is_result(&inner.elem),
        _ => false,
    }
}

/// How the call reaches its loop.
enum Kind {
    /// A method taking `&self`: the object is cloned into the call.
    Shared(Receiver),
    /// A method taking `self`: the object moves into the call.
    Owned(Receiver),
    /// A method taking `self: &Arc<Self>`: the `Arc` is cloned into the call, never
    /// the object.
    SharedArc(Receiver),
    /// A method taking `self: Arc<Self>`: the `Arc` moves into the call.
    OwnedArc(Receiver),
    /// A function without a receiver: runs on the caller's current loop.
    Free,
}

fn try_expand(args: TokenStream, item: TokenStream, place: Place) -> syn::Result<TokenStream> {
    let Args { krate, raw } = Args::parse.parse2(args)?;
    let func: ItemFn = syn::parse2(item.clone()).map_err(|_| {
        syn::Error::new(
            first_span(&item),
            "#[task] goes on a `fn` or a method with a body",
        )
    })?;
    if let Place::TraitImpl { header, self_ty } = place {
        return Err(in_trait_impl(&func, &header, &self_ty));
    }
    let mut errors = Errors::default();
    check_signature(&func, &mut errors);
    let kind = receiver_kind(&func, &mut errors);
    if func.sig.receiver().is_none() {
        if let Some(span) = find_self_type(func.to_token_stream()) {
            errors.push(syn::Error::new(
                span,
                "#[task] on a function without `self` moves its body into a nested function, \
                 where `Self` is not in scope: name the type, or take `&self`",
            ));
        }
    }
    errors.finish()?;

    let sig = &func.sig;
    let inner_name = format_ident!("__pulsar_task_{}", sig.ident);
    let output: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    // The one rule for `Result`s: an `Err` fails the promise, unless `raw`.
    let flatten = !raw && is_result(&output);
    let value: Type = if flatten {
        syn::parse_quote_spanned!(output.span()=> <#output as #krate::__private::Fallible>::Value)
    } else {
        output.clone()
    };

    // The wrapper's parameters: the argument's name when it is a plain binding, a
    // generated one for any other pattern.
    let mut params = Vec::new();
    let mut names = Vec::new();
    let mut checks = Vec::new();
    for (i, arg) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(typed) = arg else { continue };
        let name = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            _ => format_ident!("__pulsar_arg{}", i),
        };
        let ty = &typed.ty;
        params.push(quote!(#name: #ty));
        checks.push(quote_spanned!(ty.span()=> #krate::__private::argument::<#ty>();));
        names.push(name);
    }
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    // The output type is named in the call, spanned on the return type: its one
    // bound (`TaskOutput`) is the one error a `!Send`/`!Sync` result gets.
    let runner = match (sig.asyncness.is_some(), flatten) {
        (true, false) => quote_spanned!(output_span=> #krate::__private::spawn::<#output, _, _>),
        (false, false) => quote_spanned!(output_span=> #krate::__private::call::<#output, _>),
        (true, true) => quote_spanned!(output_span=> #krate::__private::try_spawn::<#output, _, _>),
        (false, true) => quote_spanned!(output_span=> #krate::__private::try_call::<#output, _>),
    };
    let call = |target: TokenStream| {
        if sig.asyncness.is_some() {
            quote!(move || async move { #target.await })
        } else {
            quote!(move || #target)
        }
    };

    let wrapper_attrs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Outer))
        .collect();
    let vis = &func.vis;
    let ident = &sig.ident;
    let mut inner = func.clone();
    inner.sig.ident = inner_name.clone();
    inner.vis = syn::Visibility::Inherited;
    inner.attrs.retain(keep_on_inner);

    // A method: the wrapper takes `wrapper_self`, runs `before`, finds the loop
    // through `object`, runs `after`, and hands the call on `target` to the runner.
    let method = |wrapper_self: TokenStream,
                  object: TokenStream,
                  (before, after): (TokenStream, TokenStream),
                  target: TokenStream| {
        let target = call(target);
        quote! {
            #(#wrapper_attrs)*
            #vis fn #ident(#wrapper_self, #(#params),*) -> #krate::__private::Promise<#value> {
                #(#checks)*
                #before
                let __pulsar_loop = #krate::__private::object_loop(#object);
                #after
                #runner(__pulsar_loop, #target)
            }
            #[doc(hidden)]
            #inner
        }
    };
    let this = quote!(__pulsar_this.#inner_name(#(#names),*));
    let expanded = match kind {
        // `&self` clones the object, `self: &Arc<Self>` the Arc, into the call.
        Kind::Shared(receiver) | Kind::SharedArc(receiver) => {
            let self_token = &receiver.self_token;
            let (cloner, object) = match receiver.colon_token {
                None => (quote!(clone_receiver), quote!(#self_token)),
                Some(_) => (quote!(clone_arc_receiver), quote!(&**#self_token)),
            };
            let clone = quote_spanned!(receiver.span()=>
                let __pulsar_this = #krate::__private::#cloner(#self_token);
            );
            method(receiver.to_token_stream(), object, (quote!(), clone), this)
        }
        // `self` and `self: Arc<Self>` move into the call.
        Kind::Owned(receiver) | Kind::OwnedArc(receiver) => {
            let self_token = &receiver.self_token;
            let (checker, wrapper_self, object) = match receiver.colon_token {
                None => (
                    quote!(owned_receiver),
                    quote!(#self_token),
                    quote!(&#self_token),
                ),
                Some(_) => (
                    quote!(arc_receiver),
                    receiver.to_token_stream(),
                    quote!(&*#self_token),
                ),
            };
            let check = quote_spanned!(receiver.span()=>
                #krate::__private::#checker(&#self_token);
            );
            let target = quote!(#self_token.#inner_name(#(#names),*));
            method(wrapper_self, object, (check, quote!()), target)
        }
        Kind::Free => {
            let target = call(quote!(#inner_name(#(#names),*)));
            quote! {
                #(#wrapper_attrs)*
                #vis fn #ident(#(#params),*) -> #krate::__private::Promise<#value> {
                    #(#checks)*
                    #inner
                    #runner(::core::option::Option::None, #target)
                }
            }
        }
    };
    Ok(expanded)
}

/// The one error for `#[task]` on a method of a trait impl, on the attribute: the
/// trait fixes the return type that `#[task]` would change.
fn in_trait_impl(func: &ItemFn, header: &str, self_ty: &str) -> syn::Error {
    let output = match &func.sig.output {
        ReturnType::Default => "()".to_owned(),
        ReturnType::Type(_, ty) => ty
            .span()
            .source_text()
            .unwrap_or_else(|| ty.to_token_stream().to_string()),
    };
    syn::Error::new(
        Span::call_site(),
        format!(
            "#[task] cannot go on a method of a trait impl (`{header}`): it would make `{name}` \
             return `Promise<{output}>`, and the trait says `{output}`. Move `{name}` to an \
             inherent `impl {self_ty}` block, keep #[task] there, and call it from the trait \
             method (declare it `-> Promise<{output}>` in the trait, or make it an `async fn` \
             that awaits the promise)",
            name = func.sig.ident,
        ),
    )
}

/// Rejects what cannot be moved to another thread as a job.
fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        errors.spanned(
            constness,
            "#[task] cannot wrap a `const fn`: the call is scheduled on an event loop at run time",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(unsafety, "#[task] cannot wrap an `unsafe fn`: the caller's safety promises do not travel to the loop's thread");
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            "#[task] cannot wrap an `extern` fn: it returns a `Promise`, which is a Rust type",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "#[task] cannot wrap a variadic fn");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "#[task] does not support generic functions: the call moves to the loop as one concrete job; \
             make it concrete, or call a generic helper from its body",
        );
    }
    for arg in &sig.inputs {
        if let FnArg::Typed(typed) = arg {
            let mut borrows = Borrows { errors };
            borrows.visit_type(&typed.ty);
        }
    }
}

/// The receiver's kind; errors for the ones that cannot travel.
fn receiver_kind(func: &ItemFn, errors: &mut Errors) -> Kind {
    let Some(FnArg::Receiver(receiver)) = func.sig.inputs.first() else {
        return Kind::Free;
    };
    if receiver.colon_token.is_some() {
        return match arc_receiver(&receiver.ty) {
            Some(true) => Kind::SharedArc(receiver.clone()),
            Some(false) => Kind::OwnedArc(receiver.clone()),
            None => {
                errors.spanned(
                    receiver,
                    "#[task] supports `&self`, `self`, `self: Arc<Self>` and `self: &Arc<Self>` \
                     receivers only",
                );
                Kind::Free
            }
        };
    }
    match &receiver.reference {
        Some(_) if receiver.mutability.is_some() => {
            errors.spanned(
                receiver,
                "#[task] cannot take `&mut self`: the call runs on the object's loop, maybe later, \
                 while the caller keeps its object; take `&self` and keep mutable state on the loop \
                 (or behind a lock)",
            );
            Kind::Free
        }
        Some(_) => Kind::Shared(receiver.clone()),
        None => Kind::Owned(receiver.clone()),
    }
}

/// `Some(true)` for `&Arc<Self>`, `Some(false)` for `Arc<Self>` (any path to `Arc`),
/// `None` for any other receiver type.
fn arc_receiver(ty: &Type) -> Option<bool> {
    let (by_ref, ty) = match ty {
        Type::Reference(r) if r.mutability.is_none() => (true, &*r.elem),
        other => (false, other),
    };
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Arc" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(Type::Path(inner)))
            if args.args.len() == 1 && inner.path.is_ident("Self") =>
        {
            Some(by_ref)
        }
        _ => None,
    }
}

/// Attributes that matter to the body, copied onto the inner function; the wrapper
/// keeps all the outer ones (docs included).
fn keep_on_inner(attr: &Attribute) -> bool {
    if matches!(attr.style, syn::AttrStyle::Inner(_)) {
        return true;
    }
    const KEEP: [&str; 9] = [
        "allow", "warn", "deny", "forbid", "expect", "cfg", "cfg_attr", "inline", "cold",
    ];
    KEEP.iter().any(|k| attr.path().is_ident(k))
}

/// Finds borrowed types in an argument: they cannot move to the loop's thread.
struct Borrows<'e> {
    errors: &'e mut Errors,
}

impl Borrows<'_> {
    fn borrowed(&mut self, tokens: impl ToTokens) {
        self.errors.spanned(
            tokens,
            "#[task] moves its arguments to the loop's thread, so they must be `'static`: \
             take an owned value (`String` for `&str`, `Vec<T>` for `&[T]`, `T` or `Arc<T>` for `&T`)",
        );
    }
}

impl<'ast> Visit<'ast> for Borrows<'_> {
    fn visit_type_reference(&mut self, r: &'ast TypeReference) {
        match &r.lifetime {
            Some(l) if l.ident == "static" => {}
            _ => {
                self.borrowed(r);
                return;
            }
        }
        self.visit_type(&r.elem);
    }

    fn visit_lifetime(&mut self, l: &'ast Lifetime) {
        if l.ident != "static" {
            self.borrowed(l);
        }
    }

    fn visit_type_impl_trait(&mut self, t: &'ast TypeImplTrait) {
        self.errors.spanned(
            t,
            "#[task] does not support `impl Trait` arguments (they make the function generic); \
             take a concrete type or a `Box<dyn Trait + Send>`",
        );
    }

    // A fn pointer's own lifetimes are higher-ranked: the pointer itself is `'static`.
    fn visit_type_bare_fn(&mut self, _: &'ast TypeBareFn) {}

    // Likewise the arguments of `dyn Fn(&str)`.
    fn visit_parenthesized_generic_arguments(
        &mut self,
        args: &'ast syn::ParenthesizedGenericArguments,
    ) {
        let _ = args;
    }
}

/// Where the type `Self` is named, if anywhere (macro arguments included).
fn find_self_type(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(ident) if ident == "Self" => Some(ident.span()),
        TokenTree::Group(group) => find_self_type(group.stream()),
        _ => None,
    })
}

fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// Errors gathered so that all of them are reported at once.
#[derive(Default)]
struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    fn push(&mut self, err: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(err),
            None => self.first = Some(err),
        }
    }

    fn spanned(&mut self, tokens: impl ToTokens, message: &str) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    fn finish(self) -> syn::Result<()> {
        self.first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        let args: TokenStream = args.parse().unwrap_or_default();
        let item: TokenStream = item.parse().unwrap_or_default();
        expand(args, item, Place::Unknown).to_string()
    }

    #[test]
    fn a_shared_method_clones_its_receiver_and_keeps_an_inner_method() {
        let out = expand_str("", "pub fn get(&self, key: String) -> u32 { 1 }");
        assert!(out.contains("clone_receiver"), "{out}");
        assert!(
            out.contains("fn __pulsar_task_get (& self , key : String) -> u32"),
            "{out}"
        );
        assert!(
            out.contains(":: pulsar_async :: __private :: Promise < u32 >"),
            "{out}"
        );
    }

    #[test]
    fn an_async_free_function_is_spawned_on_the_current_loop() {
        let out = expand_str("", "async fn f(a: u8) {}");
        assert!(out.contains("__private :: spawn"), "{out}");
        assert!(out.contains(":: core :: option :: Option :: None"), "{out}");
    }

    #[test]
    fn a_pattern_argument_gets_a_generated_name() {
        let out = expand_str("", "fn f((a, b): (u8, u8)) -> u8 { a + b }");
        assert!(out.contains("__pulsar_arg0 : (u8 , u8)"), "{out}");
    }

    #[test]
    fn a_result_return_type_is_flattened_unless_raw() {
        for output in ["Result<u8, E>", "io::Result<u8>", "anyhow::Result<u8>"] {
            let out = expand_str("", &format!("fn f() -> {output} {{ todo!() }}"));
            assert!(out.contains("__private :: try_call"), "{out}");
            assert!(out.contains("__private :: Fallible > :: Value"), "{out}");
        }
        let out = expand_str("raw", "async fn f() -> Result<u8, E> { todo!() }");
        assert!(out.contains("__private :: spawn"), "{out}");
        assert!(!out.contains("Fallible"), "{out}");
        let out = expand_str("raw, crate = ::other", "fn f() -> u8 { 1 }");
        assert!(out.contains(":: other :: __private :: call"), "{out}");
        let out = expand_str("", "async fn f() -> Option<u8> { None }");
        assert!(out.contains("__private :: spawn"), "{out}");
    }

    #[test]
    fn the_crate_path_can_be_renamed() {
        let out = expand_str("crate = ::other::pa", "fn f() {}");
        assert!(out.contains(":: other :: pa :: __private :: call"), "{out}");
    }

    #[test]
    fn a_method_of_a_trait_impl_is_one_error_and_the_item_unchanged() {
        let item: TokenStream = "fn get(&self, key: u32) -> u32 { key }"
            .parse()
            .unwrap_or_default();
        let place = Place::TraitImpl {
            header: "impl Lookup for Store".into(),
            self_ty: "Store".into(),
        };
        let out = expand(TokenStream::new(), item, place).to_string();
        assert!(
            out.starts_with("fn get (& self , key : u32) -> u32 { key }"),
            "{out}"
        );
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains("inherent `impl Store` block"), "{out}");
        assert!(!out.contains("__pulsar_task_get"), "{out}");
    }

    #[test]
    fn errors_keep_the_original_item() {
        let out = expand_str("", "fn f(&mut self) {}");
        assert!(out.starts_with("fn f (& mut self) { }"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
    }

    #[test]
    fn static_references_and_fn_pointers_are_accepted() {
        let out = expand_str(
            "",
            "fn f(a: &'static str, g: fn(&str) -> usize, h: Box<dyn Fn(&u8) + Send>) {}",
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn every_borrowed_argument_is_reported() {
        let out = expand_str(
            "",
            "fn f(a: &str, b: Vec<&u8>, c: std::borrow::Cow<'_, str>) {}",
        );
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    }
}
