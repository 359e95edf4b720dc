//! The expansion of `#[pulsar_async::test]`, on `proc_macro2` so that it can be unit
//! tested: an `async fn` test whose body runs on a fresh caller-driven loop.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, LitStr, MetaNameValue, ReturnType, Token};

/// Expands `#[test(args)] item`. On error, the original item comes back with the
/// errors, so that the rest of the code (and the IDE) still sees it.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(err) => {
            let errors = err.to_compile_error();
            quote!(#item #errors)
        }
    }
}

/// The options: `start_paused = true|false`, `name = ".."`, comma-separated.
#[derive(Default)]
struct Args {
    /// `start_paused = true`, with the option's span for the feature check.
    start_paused: Option<proc_macro2::Span>,
    name: Option<LitStr>,
}

const OPTIONS: &str = "the options are `start_paused = true` and `name = \"..\"`";

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let options = Punctuated::<MetaNameValue, Token![,]>::parse_terminated(input)?;
        for option in options {
            let Some(key) = option.path.get_ident() else {
                return Err(syn::Error::new(
                    option.path.span(),
                    format!("unknown #[pulsar_async::test] option: {OPTIONS}"),
                ));
            };
            match key.to_string().as_str() {
                "start_paused" => match &option.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Bool(b), ..
                    }) => args.start_paused = b.value.then(|| option.span()),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`start_paused` takes `true` or `false`",
                        ))
                    }
                },
                "name" => match &option.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => args.name = Some(s.clone()),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`name` takes a string literal: `name = \"my loop\"`",
                        ))
                    }
                },
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown #[pulsar_async::test] option `{key}`: {OPTIONS}"),
                    ))
                }
            }
        }
        Ok(args)
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Args::parse.parse2(args)?;
    let func: ItemFn = syn::parse2(item)?;
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "#[pulsar_async::test] runs an `async fn`: write `async fn` (for a plain `fn`, use `#[test]`)",
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "a #[pulsar_async::test] function takes no arguments",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a #[pulsar_async::test] function cannot be generic",
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "a #[pulsar_async::test] function cannot be `const`",
        ));
    }
    let attrs = &func.attrs;
    let vis = &func.vis;
    let ident = &sig.ident;
    let body = &func.block;
    let (output, ret) = match &sig.output {
        ReturnType::Default => (quote!(()), quote!()),
        ReturnType::Type(arrow, ty) => (quote!(#ty), quote!(#arrow #ty)),
    };
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => {
            let name = ident.to_string();
            quote!(#name)
        }
    };
    let paused = args.start_paused.map(|span| {
        quote_spanned! {span=>
            let __builder = ::pulsar_async::__pulsar_async_test_start_paused!(__builder);
        }
    });
    let needs_test_util = args.start_paused.map(|span| {
        quote_spanned! {span=>
            ::pulsar_async::__pulsar_async_test_needs_test_util! {}
        }
    });
    Ok(quote! {
        #needs_test_util
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #ident() #ret {
            let __builder = ::pulsar_async::__test::builder(#name);
            #paused
            ::pulsar_async::__test::run::<#output, _>(__builder, async move #body)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(args: &str, item: &str) -> String {
        expand(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn an_async_fn_becomes_a_test_that_runs_its_body_on_a_loop_named_after_it() {
        let out = expanded("", "async fn works() { }");
        assert!(out.contains("test"), "{out}");
        assert!(out.contains("__test :: builder (\"works\")"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("start_paused"), "{out}");
    }

    #[test]
    fn the_options_name_the_loop_and_pause_its_clock() {
        let out = expanded(
            "start_paused = true, name = \"mine\"",
            "async fn works() -> Result<(), String> { Ok(()) }",
        );
        assert!(out.contains("builder (\"mine\")"), "{out}");
        assert!(out.contains("start_paused"), "{out}");
        assert!(out.contains("Result < () , String >"), "{out}");
        let out = expanded("start_paused = false", "async fn works() { }");
        assert!(!out.contains("start_paused"), "{out}");
    }

    #[test]
    fn each_mistake_is_one_error_and_the_item_is_kept() {
        for (args, item) in [
            ("", "fn not_async() { }"),
            ("", "async fn takes(x: u8) { }"),
            ("", "async fn generic<T>() { }"),
            ("start_paused = 1", "async fn f() { }"),
            ("name = 1", "async fn f() { }"),
            ("flavor = \"x\"", "async fn f() { }"),
            ("a::b = 1", "async fn f() { }"),
        ] {
            let out = expanded(args, item);
            assert_eq!(
                out.matches("compile_error").count(),
                1,
                "{args} {item}: {out}"
            );
            assert!(out.contains("fn"), "{out}");
        }
    }
}
