//! `infra/openapi.yaml` against the code: the same routes as `twostep::http::ROUTES`, every error
//! code that `shared/src/http/error.rs` produces documented with its status, and every error
//! response of an operation listing only codes of that status.
//!
//! The spec's own validity is checked outside the tests (`openapi-spec-validator`); these checks
//! catch drift that a validator cannot see.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_yaml::Value;
use twostep::http::ROUTES;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn spec() -> Value {
    let path = root().join("infra/openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("infra/openapi.yaml is not YAML: {e}"))
}

fn error_source() -> String {
    std::fs::read_to_string(root().join("shared/src/http/error.rs")).unwrap()
}

/// `(METHOD, path)` of every operation in the spec.
fn spec_routes(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"]
        .as_mapping()
        .expect("infra/openapi.yaml has no `paths` mapping");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().unwrap();
        for method in METHODS {
            if item.get(*method).is_some() {
                out.insert((method.to_uppercase(), path.to_owned()));
            }
        }
    }
    out
}

fn is_code(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The string literal at the start of `s` (after white space), if any.
fn leading_literal(s: &str) -> Option<&str> {
    let rest = s.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(lit, _)| lit)
}

/// The line of byte offset `at`, for messages.
fn line_of(source: &str, at: usize) -> usize {
    source[..at].matches('\n').count() + 1
}

/// Every `(status, code)` that `error.rs` produces, read from its two kinds of site:
/// `plain(STATUS, "code", …)` / `described(STATUS, "code", …)` calls and
/// `Described { status: STATUS, code: "code", … }` literals. A site the scanner cannot read
/// fails the test rather than being skipped.
fn source_error_codes(source: &str) -> BTreeSet<(u16, String)> {
    let mut found = BTreeSet::new();

    for call in ["plain(", "described("] {
        for (at, _) in source.match_indices(call) {
            let before = &source[..at];
            // Definitions, and longer names that end in the same letters.
            if before.ends_with("fn ")
                || before
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let args = &source[at + call.len()..];
            let mut parts = args.splitn(3, ',');
            let first = parts.next().unwrap_or_default().trim();
            let second = parts.next().unwrap_or_default().trim();
            if first == "status" && second == "code" {
                continue; // `plain` forwarding to `described`.
            }
            let status: u16 = first.parse().unwrap_or_else(|_| {
                panic!(
                    "error.rs line {}: cannot read the status of `{call}…`; \
                     tests/openapi.rs expects a literal status",
                    line_of(source, at)
                )
            });
            let code = leading_literal(second)
                .filter(|c| is_code(c))
                .unwrap_or_else(|| {
                    panic!(
                        "error.rs line {}: cannot read the code of `{call}{first}, …`; \
                         tests/openapi.rs expects a snake_case string literal",
                        line_of(source, at)
                    )
                });
            found.insert((status, code.to_owned()));
        }
    }

    for (at, _) in source.match_indices("code:") {
        let before = &source[..at];
        if !before.ends_with(char::is_whitespace) {
            continue; // `"code":` in a json! body.
        }
        let after = source[at + "code:".len()..].trim_start();
        if after.starts_with("&'static") {
            continue; // The struct field's type.
        }
        let code = leading_literal(after)
            .filter(|c| is_code(c))
            .unwrap_or_else(|| {
                panic!(
                    "error.rs line {}: cannot read `code: …`; tests/openapi.rs expects a \
                     snake_case string literal",
                    line_of(source, at)
                )
            });
        let status_at = before.rfind("status:").unwrap_or_else(|| {
            panic!(
                "error.rs line {}: `code: \"{code}\"` without a `status:` before it",
                line_of(source, at)
            )
        });
        let status_text = before[status_at + "status:".len()..]
            .trim()
            .trim_end_matches(',');
        let status: u16 = status_text.parse().unwrap_or_else(|_| {
            panic!(
                "error.rs line {}: cannot read the status of `code: \"{code}\"` (`{status_text}`)",
                line_of(source, at)
            )
        });
        found.insert((status, code.to_owned()));
    }
    found
}

/// `x-error-codes` of the spec: code → statuses.
fn spec_error_codes(spec: &Value) -> BTreeMap<String, BTreeSet<u16>> {
    let list = spec["x-error-codes"]
        .as_sequence()
        .expect("infra/openapi.yaml has no top-level `x-error-codes` list");
    let mut out: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for entry in list {
        let code = entry["code"]
            .as_str()
            .unwrap_or_else(|| panic!("x-error-codes entry without `code`: {entry:?}"));
        let status = entry["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| panic!("x-error-codes entry `{code}` without a numeric `status`"));
        assert!(
            entry["meaning"].as_str().is_some_and(|m| !m.is_empty()),
            "x-error-codes entry `{code}` has no `meaning`"
        );
        out.entry(code.to_owned()).or_default().insert(status);
    }
    out
}

fn string_set(v: &Value) -> BTreeSet<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>()
        })
        .unwrap_or_default()
}

/// The component an internal `$ref` points at.
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    let Some(target) = v.get("$ref").and_then(Value::as_str) else {
        return v;
    };
    let pointer = target
        .strip_prefix("#/")
        .unwrap_or_else(|| panic!("only internal $refs are expected, found `{target}`"));
    let mut at = spec;
    for part in pointer.split('/') {
        at = at
            .get(part)
            .unwrap_or_else(|| panic!("`$ref: {target}` points at nothing"));
    }
    resolve(spec, at)
}

/// The error codes an error response's schema narrows `error.code` to (`const` or `enum` in an
/// `allOf` part); empty if it does not narrow.
fn narrowed_codes(spec: &Value, response: &Value) -> BTreeSet<String> {
    let schema = resolve(spec, &response["content"]["application/json"]["schema"]);
    let mut codes = BTreeSet::new();
    let parts = schema["allOf"].as_sequence().cloned().unwrap_or_default();
    for part in parts.iter().chain(std::iter::once(schema)) {
        let code = &part["properties"]["error"]["properties"]["code"];
        if let Some(c) = code["const"].as_str() {
            codes.insert(c.to_owned());
        }
        codes.extend(string_set(&code["enum"]));
    }
    codes
}

#[test]
fn spec_routes_are_the_route_table() {
    let spec = spec();
    assert_eq!(
        spec["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true),
        "infra/openapi.yaml must be OpenAPI 3.1"
    );
    let in_spec = spec_routes(&spec);
    let in_code: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<String> = in_code
        .difference(&in_spec)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    let extra: Vec<String> = in_spec
        .difference(&in_code)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "infra/openapi.yaml differs from twostep::http::ROUTES:\n  \
         routes missing from the spec: {missing:?}\n  \
         operations in the spec that no route serves: {extra:?}"
    );
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    let spec = spec();
    let source = error_source();
    let in_source = source_error_codes(&source);
    assert!(
        in_source.len() >= 20,
        "the scanner found only {} error codes in error.rs: {in_source:?}",
        in_source.len()
    );
    let documented = spec_error_codes(&spec);
    let enum_codes = string_set(&spec["components"]["schemas"]["ErrorCode"]["enum"]);

    let mut problems = Vec::new();
    for (status, code) in &in_source {
        match documented.get(code) {
            None => problems.push(format!(
                "error code `{code}` ({status}) of error.rs is missing from x-error-codes"
            )),
            Some(statuses) if !statuses.contains(status) => problems.push(format!(
                "error code `{code}`: error.rs answers {status}, x-error-codes says {statuses:?}"
            )),
            Some(_) => {}
        }
        if !enum_codes.contains(code) {
            problems.push(format!(
                "error code `{code}` of error.rs is missing from components.schemas.ErrorCode.enum"
            ));
        }
    }
    let source_codes: BTreeSet<&String> = in_source.iter().map(|(_, c)| c).collect();
    for code in documented.keys().chain(enum_codes.iter()) {
        if !source_codes.contains(code) {
            problems.push(format!(
                "the spec documents error code `{code}`, which error.rs never produces"
            ));
        }
    }
    for (code, statuses) in &documented {
        for status in statuses {
            if !in_source.contains(&(*status, code.clone())) {
                problems.push(format!(
                    "x-error-codes gives `{code}` status {status}, which error.rs never uses for it"
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "infra/openapi.yaml and shared/src/http/error.rs disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn operation_error_responses_list_codes_of_their_status() {
    let spec = spec();
    let in_source = source_error_codes(&error_source());
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let responses = op["responses"]
                .as_mapping()
                .unwrap_or_else(|| panic!("{method} {path} has no responses"));
            for (status, response) in responses {
                let status = status
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| status.as_u64().map(|s| s.to_string()))
                    .unwrap();
                let Ok(status) = status.parse::<u16>() else {
                    continue; // `default`, `4XX`.
                };
                if status < 400 {
                    continue;
                }
                let response = resolve(&spec, response);
                let codes = narrowed_codes(&spec, response);
                if codes.is_empty() {
                    problems.push(format!(
                        "{} {path} {status}: the schema does not list its error codes",
                        method.to_uppercase()
                    ));
                }
                for code in codes {
                    if !in_source.contains(&(status, code.clone())) {
                        problems.push(format!(
                            "{} {path} {status}: `{code}` is not answered with {status} by error.rs",
                            method.to_uppercase()
                        ));
                    }
                }
                if status == 429 && response["headers"].get("Retry-After").is_none() {
                    problems.push(format!(
                        "{} {path} 429 does not document `Retry-After`",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "error responses in infra/openapi.yaml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn scanner_reads_each_kind_of_error_site() {
    let sample = r#"
        fn plain(status: u16, code: &'static str, message: &str) -> Described {
            described(status, code, message.to_owned())
        }
        let a = plain(401, "invalid_code", "That code is not right.");
        let b = described(
            400,
            "invalid_forced_logout_at",
            format!("…"),
        );
        let c = Described {
            status: 429,
            code: "too_many_attempts",
            message: String::new(),
        };
        let body = json!({ "code": d.code, "message": d.message });
    "#;
    let expected: BTreeSet<(u16, String)> = [
        (401, "invalid_code"),
        (400, "invalid_forced_logout_at"),
        (429, "too_many_attempts"),
    ]
    .into_iter()
    .map(|(s, c)| (s, c.to_owned()))
    .collect();
    assert_eq!(source_error_codes(sample), expected);
}

#[test]
#[should_panic(expected = "cannot read the status")]
fn scanner_refuses_a_site_it_cannot_read() {
    source_error_codes(r#"let a = plain(StatusCode::GONE, "gone", "Gone.");"#);
}
