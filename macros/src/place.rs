//! Where `#[task]` sits. An attribute macro sees only the item it is on, so a method
//! of a trait impl looks exactly like one of an inherent impl; on a trait impl the
//! expansion (a method returning `Promise<T>` and a helper method) gives three
//! confusing errors. To give one that says what to do instead, the macro reads the
//! enclosing block in the source file: `proc_macro::Span::local_file`, `line` and
//! `column` (stable since Rust 1.88) locate the method, and a small scanner, which
//! skips comments, strings and character literals, finds the innermost `{` around it
//! and reads that block's header.
//!
//! When the file cannot be read or the span does not point at the method's name in
//! it (an IDE's expansion server, code made by another macro), the place is
//! [`Place::Unknown`] and the expansion is the usual one.

use proc_macro::{Span, TokenStream, TokenTree};

/// The block a `#[task]` method sits in, as far as the macro can tell.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    /// A trait impl: `header` is `impl Trait for Type` (whitespace collapsed, no
    /// `where` clause), `self_ty` is `Type`.
    TraitImpl { header: String, self_ty: String },
    /// An inherent impl, a module, a function body, or a place it cannot tell.
    Unknown,
}

/// The place of the `fn` in `item`, read from the source file.
pub fn of(item: &TokenStream) -> Place {
    let Some(name) = fn_name(item) else {
        return Place::Unknown;
    };
    let Some(path) = name.local_file() else {
        return Place::Unknown;
    };
    let Ok(source) = std::fs::read_to_string(path) else {
        return Place::Unknown;
    };
    let text = name.source_text().unwrap_or_default();
    match offset_of(&source, name.line(), name.column(), &text) {
        Some(offset) => enclosing_trait_impl(&source, offset),
        None => Place::Unknown,
    }
}

/// The span of the function's name: the identifier after `fn` at the top level of
/// the item.
fn fn_name(item: &TokenStream) -> Option<Span> {
    let mut after_fn = false;
    for tree in item.clone() {
        if let TokenTree::Ident(ident) = &tree {
            if after_fn {
                return Some(ident.span());
            }
            after_fn = ident.to_string() == "fn";
        } else {
            after_fn = false;
        }
    }
    None
}

/// The byte offset of `name` at `line` (1-based) and `column` (1-based, in
/// characters) of `source`; `None` unless `name` is there, so that a span that does
/// not point into this file's text is never trusted.
fn offset_of(source: &str, line: usize, column: usize, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let line_start = if line <= 1 {
        0
    } else {
        source
            .match_indices('\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)?
    };
    let text = &source[line_start..];
    // The column's base differs between APIs: try 1-based first, then 0-based.
    [column.checked_sub(1), Some(column)]
        .into_iter()
        .flatten()
        .find_map(|chars| {
            let byte = text
                .char_indices()
                .nth(chars)
                .map_or(text.len(), |(i, _)| i);
            text[byte..].starts_with(name).then_some(line_start + byte)
        })
}

/// The place of the code at `offset`: a trait impl when the innermost block around
/// it is one.
pub fn enclosing_trait_impl(source: &str, offset: usize) -> Place {
    let Some(header) = innermost_block_header(source, offset) else {
        return Place::Unknown;
    };
    trait_impl(&header).unwrap_or(Place::Unknown)
}

/// The header of the innermost block open at `offset`: the code between the end of
/// the previous item or statement (`;`, `{` or `}`) and the block's `{`, without
/// comments, whitespace collapsed.
fn innermost_block_header(source: &str, offset: usize) -> Option<String> {
    let bytes = source.as_bytes();
    let end = offset.min(source.len());
    // The header being read (comments left out), and the headers of the open blocks.
    let mut header = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < end {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match c {
            b'/' if next == Some(b'/') => {
                i = source[i..].find('\n').map_or(source.len(), |n| i + n);
                header.push(' ');
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = skip_block_comment(bytes, i);
                header.push(' ');
                continue;
            }
            b'"' => {
                i = skip_string(bytes, i + 1);
                header.push_str("\"\"");
                continue;
            }
            b'r' | b'b' | b'c' if starts_raw_string(bytes, i) => {
                i = skip_raw_string(bytes, i);
                header.push_str("\"\"");
                continue;
            }
            b'\'' => {
                if let Some(after) = char_literal_end(source, i) {
                    i = after;
                    header.push_str("' '");
                    continue;
                }
                // A lifetime or a label: an ordinary token.
            }
            b'{' => {
                open.push(collapse(&header));
                header.clear();
                i += 1;
                continue;
            }
            b'}' => {
                open.pop();
                header.clear();
                i += 1;
                continue;
            }
            b';' => {
                header.clear();
                i += 1;
                continue;
            }
            _ => {}
        }
        // Copy one whole character.
        let width = source[i..].chars().next().map_or(1, char::len_utf8);
        header.push_str(&source[i..i + width]);
        i += width;
    }
    open.pop()
}

/// The index after a block comment starting at `start` (they nest in Rust).
fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth = depth.saturating_sub(1);
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after a string whose contents start at `i` (after the opening quote).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `r"`, `r#"`, `br"`, `cr#"`, ... at `i`, not inside an identifier.
fn starts_raw_string(bytes: &[u8], i: usize) -> bool {
    if i > 0 && is_ident_byte(bytes[i - 1]) {
        return false;
    }
    let mut j = i;
    if bytes[j] != b'r' {
        j += 1; // the `b` or `c` of `br"` / `cr"`
        if bytes.get(j) != Some(&b'r') {
            return false;
        }
    }
    j += 1;
    while bytes.get(j) == Some(&b'#') {
        j += 1;
    }
    bytes.get(j) == Some(&b'"')
}

/// The index after the raw string starting at `i` (checked by `starts_raw_string`).
fn skip_raw_string(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while bytes[j] != b'#' && bytes[j] != b'"' {
        j += 1;
    }
    let mut hashes = 0;
    while bytes[j] == b'#' {
        hashes += 1;
        j += 1;
    }
    j += 1; // the opening quote
    while j < bytes.len() {
        if bytes[j] == b'"'
            && bytes[j + 1..]
                .iter()
                .take(hashes)
                .filter(|b| **b == b'#')
                .count()
                == hashes
        {
            return j + 1 + hashes;
        }
        j += 1;
    }
    bytes.len()
}

/// The index after a character literal starting at the quote at `i`, or `None` for
/// a lifetime or a label.
fn char_literal_end(source: &str, i: usize) -> Option<usize> {
    let rest = &source[i + 1..];
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    if first == '\\' {
        // An escape (`\'`, `\n`, `\u{..}`): the closing quote after the escaped character.
        let close = rest.get(2..)?.find('\'')?;
        return Some(i + 1 + 2 + close + 1);
    }
    match chars.next() {
        Some((at, '\'')) => Some(i + 1 + at + 1),
        _ => None,
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whitespace runs as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The trait impl that `header` opens, if it opens one: after its attributes, it
/// reads `[unsafe] impl[<..>] Trait for Type [where ..]`.
fn trait_impl(header: &str) -> Option<Place> {
    let mut rest = header.trim();
    // Outer attributes: `#[...]`, brackets balanced.
    while let Some(after) = rest.strip_prefix('#') {
        let after = after.trim_start().strip_prefix('[')?;
        let mut depth = 1usize;
        let close = after.char_indices().find_map(|(i, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        })?;
        rest = after[close + 1..].trim_start();
    }
    for qualifier in ["default ", "unsafe "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    if !(rest.starts_with("impl ") || rest.starts_with("impl<")) {
        return None;
    }
    let header = match rest.find(" where ") {
        Some(at) => &rest[..at],
        None => rest,
    };
    // The `for` of `Trait for Type`: a whole word, not the `for<'a>` of a bound.
    let words: Vec<&str> = header.split(' ').collect();
    let at = (1..words.len().saturating_sub(1))
        .find(|&at| words[at] == "for" && !words[at + 1].starts_with('<'))?;
    Some(Place::TraitImpl {
        header: header.to_owned(),
        self_ty: words[at + 1..].join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The place of the first `fn get` in `source`.
    fn place(source: &str) -> Place {
        let offset = source.find("fn get").expect("a `fn get`") + 3;
        enclosing_trait_impl(source, offset)
    }

    fn trait_impl_of(header: &str, self_ty: &str) -> Place {
        Place::TraitImpl {
            header: header.to_owned(),
            self_ty: self_ty.to_owned(),
        }
    }

    #[test]
    fn a_method_of_a_trait_impl_is_found_with_its_trait_and_type() {
        let src = "struct S;\nimpl Lookup for S {\n    #[task]\n    fn get(&self) -> u8 { 1 }\n}\n";
        assert_eq!(place(src), trait_impl_of("impl Lookup for S", "S"));
    }

    #[test]
    fn an_inherent_method_is_not_a_trait_impl() {
        let src = "impl<T> S<T> where T: for<'a> Fn(&'a u8) {\n    fn get(&self) {}\n}";
        assert_eq!(place(src), Place::Unknown);
        let hrtb = "impl<F: for <'a> Fn(&'a u8)> S<F> {\n    fn get(&self) {}\n}";
        assert_eq!(place(hrtb), Place::Unknown);
    }

    #[test]
    fn generics_attributes_unsafe_and_where_clauses_are_read_through() {
        let src = "#[cfg(test)]\nunsafe impl<T: Clone> Lookup<T> for Wrap<T>\nwhere\n    T: Send,\n{\n    fn get(&self) {}\n}";
        assert_eq!(
            place(src),
            trait_impl_of("impl<T: Clone> Lookup<T> for Wrap<T>", "Wrap<T>")
        );
    }

    #[test]
    fn braces_in_comments_strings_and_chars_do_not_count() {
        let src = r####"
            impl Lookup for S {
                // a } in a comment
                /* and { in /* a nested */ block */
                const A: &str = "}{\"";
                const B: &str = r#"}"#;
                const C: char = '}';
                const D: u8 = b'{';
                const E: char = '\'';
                const F: char = '\u{7B}';
                fn other<'a>(x: &'a str) -> &'a str { x }
                fn get(&self) {}
            }
        "####;
        assert_eq!(place(src), trait_impl_of("impl Lookup for S", "S"));
    }

    #[test]
    fn a_function_in_a_function_body_is_not_a_trait_impl() {
        let src = "impl Lookup for S {\n    fn outer(&self) {\n        fn get() {}\n    }\n}";
        assert_eq!(place(src), Place::Unknown);
    }

    #[test]
    fn a_method_after_a_closed_trait_impl_is_not_in_it() {
        let src = "impl Lookup for S { fn a(&self) {} }\nimpl S {\n    fn get(&self) {}\n}";
        assert_eq!(place(src), Place::Unknown);
    }

    #[test]
    fn the_name_must_be_at_the_spans_line_and_column() {
        let src = "impl S {\n    fn get(&self) {}\n}";
        assert_eq!(offset_of(src, 2, 8, "get"), src.find("get"));
        assert_eq!(
            offset_of(src, 2, 7, "get"),
            src.find("get"),
            "0-based columns too"
        );
        assert_eq!(offset_of(src, 1, 8, "get"), None);
        assert_eq!(offset_of(src, 9, 1, "get"), None);
    }
}
