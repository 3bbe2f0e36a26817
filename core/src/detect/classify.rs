//! Data classes: whole-text signals a policy can act on, `source-code` (a substantial block
//! of code, by language) and `bulk-pii` (many personal records, a CSV/JSON dump).
//!
//! Pure functions over a whole text, linear in its length: one pass over lines with byte
//! checks, and one leftmost-longest Aho-Corasick pass of language tokens over each candidate block (at most
//! [`LANGUAGE_WINDOW`] bytes of it). Reported as findings of [`DATA_CLASS`], whose action is
//! `flag`: they are never masked (masking a whole code block would corrupt the prompt); a
//! policy that wants to refuse uses a rule (`findings.exists(f, f.rule.startsWith(...))`).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::finding::{Category, CustomCategory, Finding};
use crate::policy::Action;

/// The category of `source-code-*` and `bulk-pii` findings: flagged, never masked.
pub static DATA_CLASS: CustomCategory = CustomCategory {
    name: "data-class",
    action: Action::Flag,
};

/// The category value of [`DATA_CLASS`].
pub fn data_class() -> Category {
    Category::Custom(&DATA_CLASS)
}

/// Whether `category` is the data-class category (whatever address it was built at).
pub fn is_data_class(category: Category) -> bool {
    matches!(category, Category::Custom(c) if c.name == DATA_CLASS.name)
}

/// Code-looking lines a block needs to count as source code.
pub const MIN_CODE_LINES: usize = 8;
/// Distinct records carrying PII a text needs to count as a bulk dump.
pub const MIN_PII_RECORDS: usize = 10;
/// Bytes of a line looked at to decide whether it looks like code.
pub const LINE_WINDOW: usize = 512;
/// Bytes of a block whose language tokens are counted.
pub const LANGUAGE_WINDOW: usize = 16 * 1024;

/// The languages `source_code` names, in its rule ids (`source-code-<language>`).
pub const LANGUAGES: &[&str] = &[
    "rust",
    "python",
    "javascript",
    "go",
    "java",
    "c",
    "cpp",
    "csharp",
    "ruby",
    "php",
    "shell",
    "sql",
    "unknown",
];

/// Rule ids the classifiers report.
pub const RULE_IDS: &[&str] = &[
    "source-code-rust",
    "source-code-python",
    "source-code-javascript",
    "source-code-go",
    "source-code-java",
    "source-code-c",
    "source-code-cpp",
    "source-code-csharp",
    "source-code-ruby",
    "source-code-php",
    "source-code-shell",
    "source-code-sql",
    "source-code-unknown",
    "bulk-pii",
];

fn rule_for(language: &str) -> &'static str {
    LANGUAGES
        .iter()
        .position(|l| *l == language)
        .and_then(|i| RULE_IDS.get(i))
        .copied()
        .unwrap_or("source-code-unknown")
}

/// A block of code: its language, its code-looking lines, and its byte span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceCode {
    pub language: &'static str,
    pub lines: usize,
    pub start: usize,
    pub end: usize,
}

/// A bulk dump: how many distinct records carry PII, and the span from the first to the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkPii {
    pub records: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    Blank,
    /// Neither for nor against: comments.
    Neutral,
    /// Only brackets and separators (`}`, `});`): code inside a block, never its start
    /// (JSON has them too).
    Brace,
    Code {
        strong: bool,
    },
    Other,
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Keywords that open a line of code (followed by a space, `(`, `:` or the line's end).
const OPENERS: &[&str] = &[
    "fn",
    "pub",
    "let",
    "const",
    "var",
    "def",
    "class",
    "import",
    "from",
    "return",
    "if",
    "for",
    "while",
    "func",
    "package",
    "use",
    "struct",
    "enum",
    "impl",
    "trait",
    "mod",
    "match",
    "elif",
    "else",
    "try",
    "except",
    "finally",
    "raise",
    "with",
    "async",
    "await",
    "function",
    "export",
    "public",
    "private",
    "protected",
    "static",
    "void",
    "int",
    "char",
    "float",
    "double",
    "bool",
    "auto",
    "unsigned",
    "long",
    "using",
    "namespace",
    "template",
    "typedef",
    "echo",
    "end",
    "require",
    "module",
    "puts",
    "lambda",
    "switch",
    "case",
    "break",
    "continue",
    "throw",
    "new",
    "defer",
    "go",
    "type",
    "interface",
    "print",
    "println",
    "printf",
    "elsif",
    "unless",
    "do",
    "done",
    "then",
    "fi",
    "esac",
    "local",
    "cd",
    "sudo",
    "apt-get",
    "npm",
    "pip",
    "cargo",
    "git",
    "docker",
    "kubectl",
    "set",
    "unset",
    "source",
    "exec",
    "curl",
    "wget",
    "mkdir",
    "rm",
    "cp",
    "mv",
    "chmod",
    "make",
    "self",
    "this",
    "yield",
    "goto",
    "extern",
    "final",
    "override",
    "virtual",
    "val",
    "loop",
    "unsafe",
    "where",
    "foreach",
    "SELECT",
    "FROM",
    "WHERE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "ALTER",
    "DROP",
    "JOIN",
    "LEFT",
    "INNER",
    "GROUP",
    "ORDER",
    "VALUES",
    "SET",
    "AND",
    "OR",
    "LIMIT",
    "WITH",
    "UNION",
    "HAVING",
    "BEGIN",
    "COMMIT",
    "PRIMARY",
];

/// Lines ending like this after a keyword are statements (`else`, `end`, `fi`).
const STRUCTURE: &[u8] = b"(){}[];=<>:$|\"'/-`";

/// Decides whether one line looks like code.
fn classify_line(line: &[u8]) -> Line {
    let line = line.get(..LINE_WINDOW).unwrap_or(line);
    let t = line.trim_ascii();
    let Some((&first, &last)) = t.first().zip(t.last()) else {
        return Line::Blank;
    };
    // Comments and brace-only lines appear in code and data alike.
    if t.starts_with(b"//")
        || t.starts_with(b"/*")
        || t.starts_with(b"*/")
        || t == b"*"
        || t.starts_with(b"* ")
        || t.starts_with(b"--")
        || t.starts_with(b"<!--")
        || t.starts_with(b"\"\"\"")
    {
        return Line::Neutral;
    }
    if first == b'#' {
        let preprocessor = [
            b"#include".as_slice(),
            b"#define",
            b"#ifdef",
            b"#ifndef",
            b"#endif",
            b"#pragma",
            b"#!",
            b"#[",
        ];
        return if preprocessor.iter().any(|p| t.starts_with(p)) {
            Line::Code { strong: true }
        } else {
            Line::Neutral
        };
    }
    // One pass: which byte classes occur, how many symbols, how many words.
    let (mut any, mut all, mut symbols, mut words, mut prev_space) = (0u8, 0xffu8, 0, 0, true);
    for &b in t {
        let c = BYTE_CLASS.get(usize::from(b)).copied().unwrap_or(0);
        any |= c;
        all &= c;
        symbols += usize::from(c & SYM != 0);
        let space = b == b' ';
        words += usize::from(prev_space && !space);
        prev_space = space;
    }
    if all & BRACE != 0 {
        return Line::Brace;
    }
    // Markdown tables, lists and quotes; JSON keys and strings; numbered lists and log lines
    // (a line opening with a digit); INI/TOML section headers.
    let second = t.get(1).copied().unwrap_or(b' ');
    if first == b'|'
        || first == b'>' && second == b' '
        || matches!(first, b'-' | b'+' | b'*') && second == b' '
        || first == b'"'
        || first.is_ascii_digit()
        || first == b'[' && last == b']'
    {
        return Line::Other;
    }
    // A sentence: several words ending in sentence punctuation.
    if matches!(last, b'.' | b'?' | b'!') && words >= 5 {
        return Line::Other;
    }
    let strong = ends_statement(t)
        || (any & PAREN != 0 && has_call(t))
        || (any & OP != 0 && has_operator(t));
    if strong {
        return Line::Code { strong: true };
    }
    let word_end = t.iter().position(|&b| !ident_byte(b) && b != b'-');
    let head = word_end.and_then(|e| t.get(..e)).unwrap_or(t);
    let after = word_end.and_then(|e| t.get(e)).copied();
    let opener = matches!(after, None | Some(b' ' | b'(' | b':' | b';' | b'{' | b'<'))
        && OPENER_SET.binary_search(&head).is_ok();
    if opener && (words <= 4 || any & STRUCT != 0) {
        return Line::Code { strong: false };
    }
    if any & EQ != 0 && has_assignment(t) {
        return Line::Code { strong: false };
    }
    // `$` variables, `@` attributes and decorators, `.method` chains.
    if (first == b'$' || first == b'@' || first == b'.') && symbols > 0 && words <= 8 {
        return Line::Code { strong: false };
    }
    Line::Other
}

/// [`OPENERS`] sorted, for a binary search.
static OPENER_SET: LazyLock<Vec<&'static [u8]>> = LazyLock::new(|| {
    let mut v: Vec<&'static [u8]> = OPENERS.iter().map(|k| k.as_bytes()).collect();
    v.sort_unstable();
    v.dedup();
    v
});

const SYM: u8 = 1;
const STRUCT: u8 = 2;
const OP: u8 = 4;
const BRACE: u8 = 8;
const PAREN: u8 = 16;
const EQ: u8 = 32;

/// Whether `set` holds `b` (usable in a `const` table).
const fn holds(set: &[u8], b: u8) -> bool {
    let mut k = 0;
    while k < set.len() {
        if set[k] == b {
            return true;
        }
        k += 1;
    }
    false
}

/// Per byte, the classes [`classify_line`] asks about.
static BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if holds(b"(){}[];=<>+*/&|!:$@#%^~\\", b) {
            c |= SYM;
        }
        if holds(STRUCTURE, b) {
            c |= STRUCT;
        }
        if holds(b"-=:!&|+$\">;", b) {
            c |= OP;
        }
        if holds(b"{}[]();,", b) {
            c |= BRACE;
        }
        if b == b'(' {
            c |= PAREN;
        }
        if b == b'=' {
            c |= EQ;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// `;`, `{`, `}` closing a line, or `):` / `) {` (a block opener).
fn ends_statement(t: &[u8]) -> bool {
    match t.last() {
        Some(b';') => !t.ends_with(b"&nbsp;"),
        Some(b'{') => t.len() > 1,
        Some(b'}') => t.len() > 1 && !t.starts_with(b"\""),
        Some(b':') => t.ends_with(b"):") || t.ends_with(b"else:") || t.ends_with(b"try:"),
        _ => false,
    }
}

/// An identifier immediately followed by `(`, with a `)` later on the line.
fn has_call(t: &[u8]) -> bool {
    let Some(open) = t
        .windows(2)
        .position(|w| matches!(w, [a, b'('] if ident_byte(*a) || *a == b'!'))
    else {
        return false;
    };
    t.get(open..).is_some_and(|rest| rest.contains(&b')'))
        && !t.ends_with(b".")
        && t.iter().filter(|&&b| b == b' ').count() < 12
}

/// `->`, `=>`, `::`, `==`, `!=`, `&&`, `||`, `:=`, `+=`; the shell's `$(`, `${`, `"$`,
/// `>&`, `; then`, `; do`.
fn has_operator(t: &[u8]) -> bool {
    (t.windows(2).any(|w| {
        matches!(
            w,
            b"->"
                | b"=>"
                | b"::"
                | b"=="
                | b"!="
                | b"&&"
                | b"||"
                | b":="
                | b"+="
                | b"-="
                | b"$("
                | b"${"
                | b"\"$"
                | b">&"
        )
    }) || t.ends_with(b"; then")
        || t.ends_with(b"; do"))
        && !t.starts_with(b"http")
}

/// `name = value`: the part before a lone `=` is one to three identifier-ish words.
fn has_assignment(t: &[u8]) -> bool {
    let Some(eq) = t.iter().position(|&b| b == b'=') else {
        return false;
    };
    if t.get(eq + 1) == Some(&b'=') {
        return false;
    }
    let left = t.get(..eq).unwrap_or_default().trim_ascii();
    !left.is_empty()
        && left.split(|&b| b == b' ').filter(|w| !w.is_empty()).count() <= 3
        && left
            .iter()
            .all(|&b| ident_byte(b) || b" .[]$*&:<>,'\"-".contains(&b))
        && left.first().is_some_and(|&b| ident_byte(b) || b == b'$')
}

const RUST: usize = 0;
const PYTHON: usize = 1;
const JS: usize = 2;
const GO: usize = 3;
const JAVA: usize = 4;
const C: usize = 5;
const CPP: usize = 6;
const CSHARP: usize = 7;
const RUBY: usize = 8;
const PHP: usize = 9;
const SHELL: usize = 10;
const SQL: usize = 11;
const KNOWN: usize = 12;

#[rustfmt::skip]
const TOKENS: &[(&str, usize, u32)] = &[
    ("fn ", RUST, 2), ("let mut ", RUST, 3), ("impl ", RUST, 2), ("pub fn ", RUST, 3),
    ("&self", RUST, 3), ("&mut ", RUST, 3), ("::new(", RUST, 1), ("-> Result<", RUST, 3),
    ("Option<", RUST, 1), ("Vec<", RUST, 2), (".unwrap()", RUST, 3), ("#[derive(", RUST, 3),
    ("use std::", RUST, 3), ("println!(", RUST, 3), ("pub struct ", RUST, 2), ("crate::", RUST, 3),
    ("Some(", RUST, 1), ("Ok(", RUST, 1), ("&str", RUST, 3), ("String::", RUST, 2),
    ("'static", RUST, 2), ("?;", RUST, 2), ("match ", RUST, 1), ("pub(crate)", RUST, 3),
    ("def ", PYTHON, 2), ("elif ", PYTHON, 3), ("self.", PYTHON, 1), ("(self", PYTHON, 3),
    ("__init__", PYTHON, 3), ("None", PYTHON, 1), ("True", PYTHON, 1), ("False", PYTHON, 1),
    ("except ", PYTHON, 3), ("raise ", PYTHON, 1), ("\"\"\"", PYTHON, 2), (" pass\n", PYTHON, 2),
    ("in range(", PYTHON, 3), ("__name__", PYTHON, 3), (".append(", PYTHON, 1),
    ("with open(", PYTHON, 3), ("import numpy", PYTHON, 3), ("print(f\"", PYTHON, 3),
    ("):\n", PYTHON, 2), (" not in ", PYTHON, 1), ("lambda ", PYTHON, 1),
    ("const ", JS, 2), ("function ", JS, 2), ("=> {", JS, 2), ("console.log(", JS, 3),
    ("require(", JS, 2), ("module.exports", JS, 3), ("export default", JS, 3),
    ("import {", JS, 2), ("document.", JS, 2), ("await ", JS, 1), ("===", JS, 3), ("!==", JS, 3),
    ("undefined", JS, 2), (": string", JS, 2), (": number", JS, 3), ("Promise<", JS, 2),
    ("export const", JS, 3), ("export function", JS, 3), ("addEventListener", JS, 3),
    ("JSON.stringify", JS, 3), ("=> ", JS, 1), ("let ", JS, 1), (".then(", JS, 2),
    ("func ", GO, 3), ("package ", GO, 2), (":= ", GO, 3), ("fmt.", GO, 3), ("err != nil", GO, 4),
    ("go func", GO, 3), ("chan ", GO, 2), ("defer ", GO, 3), ("import (", GO, 3),
    ("[]string", GO, 3), ("map[string]", GO, 3), ("interface{}", GO, 3), ("*http.", GO, 2),
    ("nil {", GO, 2), ("struct {", GO, 2), ("[]byte", GO, 3),
    ("public class ", JAVA, 2), ("public static void", JAVA, 3), ("System.out.", JAVA, 4),
    ("import java.", JAVA, 4), ("@Override", JAVA, 2), ("throws ", JAVA, 3), ("extends ", JAVA, 1),
    ("implements ", JAVA, 2), ("String[]", JAVA, 2), ("ArrayList<", JAVA, 2), ("private final", JAVA, 2),
    ("new ", JAVA, 1), ("public void ", JAVA, 2), ("package com.", JAVA, 3), ("List<String>", JAVA, 1),
    ("#include", C, 3), ("printf(", C, 3), ("malloc(", C, 3), ("free(", C, 2), ("sizeof(", C, 2),
    ("int main(", C, 3), ("NULL", C, 2), ("->", C, 1), ("char *", C, 3), ("void *", C, 2),
    ("#define ", C, 3), ("unsigned ", C, 1), ("struct ", C, 1), ("size_t", C, 2),
    ("std::", CPP, 3), ("#include <iostream>", CPP, 4), ("cout <<", CPP, 4), ("template<", CPP, 3),
    ("template <", CPP, 3), ("nullptr", CPP, 3), ("public:", CPP, 3), ("private:", CPP, 3),
    ("virtual ", CPP, 2), ("const&", CPP, 2), ("auto ", CPP, 1),
    ("using System", CSHARP, 4), ("Console.Write", CSHARP, 4), ("{ get; set; }", CSHARP, 4),
    ("async Task", CSHARP, 4), ("private readonly", CSHARP, 3), ("new List<", CSHARP, 2),
    ("[HttpGet", CSHARP, 3), ("public async", CSHARP, 2), ("foreach (var", CSHARP, 3),
    ("string ", CSHARP, 1), ("namespace ", CSHARP, 1), (" var ", CSHARP, 1), ("=> ", CSHARP, 1),
    ("puts ", RUBY, 3), ("require '", RUBY, 3), ("attr_accessor", RUBY, 4), ("do |", RUBY, 4),
    (".each do", RUBY, 4), ("elsif ", RUBY, 4), ("unless ", RUBY, 2), ("nil", RUBY, 1),
    ("\nend", RUBY, 1), (" end\n", RUBY, 1), ("def ", RUBY, 1), ("@", RUBY, 1),
    ("<?php", PHP, 6), ("$this->", PHP, 4), ("public function", PHP, 3), ("echo ", PHP, 1),
    ("array(", PHP, 2), ("foreach (", PHP, 1), ("?>", PHP, 2), ("$", PHP, 1), ("->", PHP, 1),
    ("#!/bin/bash", SHELL, 6), ("#!/bin/sh", SHELL, 6), ("#!/usr/bin/env bash", SHELL, 6),
    ("echo ", SHELL, 1), ("\nfi", SHELL, 4), ("; then", SHELL, 4), ("; do", SHELL, 4),
    ("\ndone", SHELL, 3), ("esac", SHELL, 4), ("$(", SHELL, 2), ("${", SHELL, 1),
    ("export ", SHELL, 1), ("if [", SHELL, 4), ("[[ ", SHELL, 3), ("| grep", SHELL, 3),
    ("sudo ", SHELL, 3), ("apt-get ", SHELL, 3), ("chmod ", SHELL, 3), ("2>&1", SHELL, 3),
    ("/dev/null", SHELL, 2), ("set -e", SHELL, 3), ("local ", SHELL, 1), ("mkdir -p", SHELL, 3),
    ("SELECT ", SQL, 3), ("FROM ", SQL, 2), ("WHERE ", SQL, 2), ("INSERT INTO", SQL, 4),
    ("CREATE TABLE", SQL, 4), ("JOIN ", SQL, 2), ("GROUP BY", SQL, 3), ("ORDER BY", SQL, 3),
    ("VALUES", SQL, 2), ("PRIMARY KEY", SQL, 3), ("VARCHAR", SQL, 3), ("UPDATE ", SQL, 2),
    ("DELETE FROM", SQL, 4), ("NOT NULL", SQL, 3), ("select ", SQL, 1), ("insert into", SQL, 3),
    ("create table", SQL, 3), ("group by", SQL, 3), ("order by", SQL, 3), ("COUNT(", SQL, 2),
];

const LANGUAGE_IDS: [&str; KNOWN] = [
    "rust",
    "python",
    "javascript",
    "go",
    "java",
    "c",
    "cpp",
    "csharp",
    "ruby",
    "php",
    "shell",
    "sql",
];

struct Languages {
    ac: AhoCorasick,
    /// Per pattern: its text, and the languages it credits with their weights.
    owners: Vec<(&'static str, Vec<(usize, u32)>)>,
}

static LANGUAGE_TOKENS: LazyLock<Option<Languages>> = LazyLock::new(|| {
    // The same text may name several languages (`=> ` is JavaScript and C#): one pattern
    // per distinct text, every owner credited.
    let mut owners: Vec<(&'static str, Vec<(usize, u32)>)> = Vec::new();
    for &(text, language, weight) in TOKENS {
        match owners.iter_mut().find(|(t, _)| *t == text) {
            Some((_, o)) => o.push((language, weight)),
            None => owners.push((text, vec![(language, weight)])),
        }
    }
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(owners.iter().map(|(t, _)| t))
        .ok()?;
    Some(Languages { ac, owners })
});

/// The language whose tokens weigh most in `block` (its first [`LANGUAGE_WINDOW`] bytes),
/// `unknown` when none clearly wins.
fn language_of(block: &[u8]) -> &'static str {
    let Some(langs) = LANGUAGE_TOKENS.as_ref() else {
        return "unknown";
    };
    let block = block.get(..LANGUAGE_WINDOW).unwrap_or(block);
    let mut score = [0u32; KNOWN];
    for m in langs.ac.find_iter(block) {
        let Some((text, credits)) = langs.owners.get(m.pattern().as_usize()) else {
            continue;
        };
        let tb = text.as_bytes();
        // A token that begins or ends with a letter must not be part of a longer word.
        if tb.first().is_some_and(|&b| ident_byte(b))
            && m.start()
                .checked_sub(1)
                .and_then(|p| block.get(p))
                .is_some_and(|&b| ident_byte(b))
        {
            continue;
        }
        if tb.last().is_some_and(|&b| ident_byte(b))
            && block.get(m.end()).is_some_and(|&b| ident_byte(b))
        {
            continue;
        }
        for &(language, weight) in credits {
            if let Some(sc) = score.get_mut(language) {
                *sc += weight;
            }
        }
    }
    // C++ is C with more: enough of its own tokens and the C ones count for it.
    if let (Some(&c), Some(&cpp)) = (score.get(C), score.get(CPP))
        && cpp >= 6
        && let Some(x) = score.get_mut(CPP)
    {
        *x = cpp + c;
    }
    let mut order: Vec<usize> = (0..KNOWN).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(score.get(i).copied().unwrap_or(0)));
    let best = order.first().copied().unwrap_or(0);
    let top = score.get(best).copied().unwrap_or(0);
    let second = order
        .get(1)
        .and_then(|&i| score.get(i))
        .copied()
        .unwrap_or(0);
    // A clear winner: enough weight, and a quarter more than the runner-up.
    if top >= 4 && top * 4 >= second * 5 && top > second {
        LANGUAGE_IDS.get(best).copied().unwrap_or("unknown")
    } else {
        "unknown"
    }
}

/// The language a fence's info string names: `Some(Some(id))` a language of ours,
/// `Some(None)` data or markup (not source code), `None` nothing we know.
fn fence_language(info: &[u8]) -> Option<Option<&'static str>> {
    let word_end = info
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b',' || *b == b'{')
        .unwrap_or(info.len());
    let word = info.get(..word_end).unwrap_or_default();
    let word = String::from_utf8_lossy(word).to_ascii_lowercase();
    let id = match word.as_str() {
        "rust" | "rs" => "rust",
        "python" | "py" | "python3" | "py3" => "python",
        "javascript" | "js" | "jsx" | "mjs" | "typescript" | "ts" | "tsx" | "node" => "javascript",
        "go" | "golang" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cpp" | "c++" | "cc" | "cxx" | "hpp" => "cpp",
        "csharp" | "cs" | "c#" => "csharp",
        "ruby" | "rb" => "ruby",
        "php" => "php",
        "shell" | "sh" | "bash" | "zsh" | "console" | "shell-session" => "shell",
        "sql" | "mysql" | "postgresql" | "postgres" | "psql" | "sqlite" | "plsql" | "tsql" => "sql",
        "json" | "jsonc" | "json5" | "jsonl" | "ndjson" | "yaml" | "yml" | "toml" | "ini"
        | "xml" | "html" | "csv" | "tsv" | "text" | "txt" | "plain" | "plaintext" | "markdown"
        | "md" | "log" | "output" | "env" | "properties" => return Some(None),
        _ => return None,
    };
    Some(Some(id))
}

/// Counts over a run of lines.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    code: usize,
    strong: usize,
    other: usize,
    nonblank: usize,
}

impl Tally {
    fn add(&mut self, line: Line) {
        match line {
            Line::Blank => return,
            Line::Neutral => {}
            Line::Brace => self.code += 1,
            Line::Code { strong } => {
                self.code += 1;
                self.strong += usize::from(strong);
            }
            Line::Other => self.other += 1,
        }
        self.nonblank += 1;
    }

    /// Enough code, most lines code, and some lines only code has.
    fn is_code(&self) -> bool {
        self.code >= MIN_CODE_LINES && self.code >= 2 * self.other && self.strong >= 2
    }
}

/// Lines of `text` with their byte offsets (without the `\n`).
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= text.len() {
            return None;
        }
        let rest = text.get(pos..)?;
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let start = pos;
        pos += len + 1;
        Some((start, rest.get(..len)?))
    })
}

/// An opening fence: three or more backticks or tildes after at most three spaces.
fn fence(line: &[u8]) -> Option<(u8, usize, &[u8])> {
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    if indent > 3 {
        return None;
    }
    let rest = line.get(indent..)?;
    let ch = *rest.first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let n = rest.iter().take_while(|&&b| b == ch).count();
    (n >= 3).then(|| (ch, n, rest.get(n..).unwrap_or_default().trim_ascii()))
}

/// Every substantial block of code in `text`, in order: fenced blocks (the info string names
/// the language when it is one of ours) and unfenced runs where most lines look like code.
pub fn source_code_blocks(text: &str) -> Vec<SourceCode> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut it = lines(bytes).peekable();
    // The unfenced run being read: its first and last code line, and its counts.
    let mut run: Option<(usize, usize, Tally)> = None;
    let mut others_in_a_row = 0;
    let close_run = |run: &mut Option<(usize, usize, Tally)>, out: &mut Vec<SourceCode>| {
        if let Some((s, e, tally)) = run.take()
            && tally.is_code()
        {
            out.push(SourceCode {
                language: language_of(bytes.get(s..e).unwrap_or_default()),
                lines: tally.code,
                start: s,
                end: e,
            });
        }
    };
    while let Some((start, line)) = it.next() {
        if let Some((ch, n, info)) = fence(line) {
            close_run(&mut run, &mut out);
            others_in_a_row = 0;
            let named = if info.is_empty() {
                None
            } else {
                fence_language(info)
            };
            let body_start = (start + line.len() + 1).min(bytes.len());
            let mut body_end = bytes.len();
            let mut tally = Tally::default();
            for (s, l) in it.by_ref() {
                if fence(l).is_some_and(|(c, m, rest)| c == ch && m >= n && rest.is_empty()) {
                    body_end = s;
                    break;
                }
                tally.add(classify_line(l));
            }
            let body = bytes.get(body_start..body_end).unwrap_or_default();
            let body_end = body_start + body.trim_ascii_end().len();
            let found = match named {
                Some(None) => None,
                Some(Some(lang)) => (tally.nonblank >= MIN_CODE_LINES).then_some(lang),
                None => (tally.code >= MIN_CODE_LINES
                    && tally.code * 2 >= tally.nonblank
                    && tally.strong >= 2)
                    .then(|| language_of(body)),
            };
            if let Some(language) = found {
                out.push(SourceCode {
                    language,
                    lines: if named.is_some() {
                        tally.nonblank
                    } else {
                        tally.code
                    },
                    start: body_start,
                    end: body_end.max(body_start),
                });
            }
            continue;
        }
        let end = start + line.len();
        match classify_line(line) {
            Line::Blank => {}
            l @ (Line::Neutral | Line::Brace) => {
                if let Some((_, _, tally)) = run.as_mut() {
                    tally.add(l);
                }
            }
            l @ Line::Code { .. } => {
                others_in_a_row = 0;
                match run.as_mut() {
                    Some((_, e, tally)) => {
                        *e = end;
                        tally.add(l);
                    }
                    None => {
                        let mut tally = Tally::default();
                        tally.add(l);
                        run = Some((start, end, tally));
                    }
                }
            }
            l @ Line::Other => {
                others_in_a_row += 1;
                if others_in_a_row >= 2 {
                    close_run(&mut run, &mut out);
                } else if let Some((_, _, tally)) = run.as_mut() {
                    tally.add(l);
                }
            }
        }
    }
    close_run(&mut run, &mut out);
    out
}

/// The first substantial block of code in `text`, if any.
pub fn source_code(text: &str) -> Option<SourceCode> {
    source_code_blocks(text).into_iter().next()
}

/// Where each finding's record starts: the outermost JSON object that is an element of an
/// array, else the line. One pass over `text`, tracking strings and nesting.
struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    in_string: bool,
    escaped: bool,
    /// Open containers: `[` or `{` with its offset.
    stack: Vec<(u8, usize)>,
    /// Depth (into `stack`) of the outermost object that is an array element, if open.
    record: Option<usize>,
    /// Containers open beyond [`MAX_DEPTH`], not tracked.
    deep: usize,
}

/// Nesting deeper than this is counted, not tracked.
const MAX_DEPTH: usize = 64;

impl Records<'_> {
    /// Walks to `to` and gives the record holding that offset.
    fn at(&mut self, to: usize) -> usize {
        while self.pos < to {
            let Some(&b) = self.bytes.get(self.pos) else {
                break;
            };
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' || b == b'\n' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'[' | b'{' if self.stack.len() >= MAX_DEPTH => self.deep += 1,
                    b'[' | b'{' => {
                        if b == b'{'
                            && self.record.is_none()
                            && self.stack.last().is_some_and(|&(c, _)| c == b'[')
                        {
                            self.record = Some(self.stack.len());
                        }
                        self.stack.push((b, self.pos));
                    }
                    b']' | b'}' if self.deep > 0 => self.deep -= 1,
                    b']' | b'}' => {
                        let popped = self.stack.pop().is_some();
                        if popped && self.record == Some(self.stack.len()) {
                            self.record = None;
                        }
                    }
                    _ => {}
                }
            }
            self.pos += 1;
        }
        match self.record.and_then(|d| self.stack.get(d)) {
            Some(&(_, open)) => open,
            None => memchr::memrchr(b'\n', self.bytes.get(..to).unwrap_or_default())
                .map_or(0, |n| n + 1),
        }
    }
}

/// How many distinct records (lines of a CSV/TSV/NDJSON dump, objects of a JSON array) carry
/// a PII finding; `Some` when at least [`MIN_PII_RECORDS`] do. `findings` are the scanner's
/// findings over `text` (any order).
pub fn bulk_pii(text: &str, findings: &[Finding]) -> Option<BulkPii> {
    let mut pii: Vec<(usize, usize)> = findings
        .iter()
        .filter(|f| f.category == Category::Pii)
        .map(|f| (f.start, f.end))
        .collect();
    if pii.len() < MIN_PII_RECORDS {
        return None;
    }
    pii.sort_unstable();
    let mut walker = Records {
        bytes: text.as_bytes(),
        pos: 0,
        in_string: false,
        escaped: false,
        stack: Vec::new(),
        record: None,
        deep: 0,
    };
    let mut records = 0;
    let mut last_record = None;
    let mut first = None;
    let mut end = 0;
    for (s, e) in pii {
        let r = walker.at(s);
        if last_record != Some(r) {
            records += 1;
            last_record = Some(r);
            first.get_or_insert(r);
        }
        end = end.max(e);
    }
    let start = first?;
    let end = memchr::memchr(b'\n', text.as_bytes().get(end..).unwrap_or_default())
        .map_or(text.len(), |n| end + n);
    (records >= MIN_PII_RECORDS).then_some(BulkPii {
        records,
        start,
        end: end.max(start),
    })
}

/// Appends the data-class findings of `text` to `out`, given the scanner's findings already
/// in `out`: one `source-code-<language>` per language (over its first block) and one
/// `bulk-pii`.
pub(crate) fn classify(text: &str, source_code: bool, bulk: bool, out: &mut Vec<Finding>) {
    let mut found = Vec::new();
    if bulk && let Some(b) = bulk_pii(text, out) {
        found.push(Finding {
            rule: "bulk-pii",
            category: data_class(),
            start: b.start,
            end: b.end,
            encoding: None,
            validated: false,
        });
    }
    if source_code {
        let mut named: Vec<&str> = Vec::new();
        for block in source_code_blocks(text) {
            if named.contains(&block.language) {
                continue;
            }
            named.push(block.language);
            found.push(Finding {
                rule: rule_for(block.language),
                category: data_class(),
                start: block.start,
                end: block.end,
                encoding: None,
                validated: false,
            });
        }
    }
    out.extend(found);
}
