//! `template.yaml` against the code: one source of truth for routes (the shared route table that
//! the local server and every function serve), each function's runtime, architecture, build
//! method and crate, the schedule expression, and the IAM actions README lists.
//!
//! cfn-lint and `sam validate` miss a bad runtime, a malformed schedule and a mistyped HttpApi
//! key; these checks do not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_yaml::Value;
use twostep::http::{ROUTES, match_route};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Strips a YAML tag (`!Ref X` → `X` as tagged value's inner).
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn functions(t: &Value) -> BTreeMap<String, &Value> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r))
        .collect()
}

fn folder(resource: &Value) -> String {
    let binary = resource["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap();
    binary
        .strip_prefix("twostep-")
        .expect("binaries are named twostep-<function>")
        .to_owned()
}

#[test]
fn routes_agree_between_template_code_and_functions() {
    let t = template();
    let mut in_template = BTreeSet::new();
    for resource in functions(&t).values() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"] == "HttpApi" {
                let p = &event["Properties"];
                assert_eq!(
                    untag(&p["ApiId"]).as_str(),
                    Some("HttpApi"),
                    "HttpApi events name the API"
                );
                let keys: BTreeSet<&str> = p
                    .as_mapping()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().unwrap())
                    .collect();
                assert_eq!(
                    keys,
                    BTreeSet::from(["ApiId", "Method", "Path"]),
                    "mistyped HttpApi key"
                );
                let method = p["Method"].as_str().unwrap().to_owned();
                let path = p["Path"].as_str().unwrap().to_owned();
                in_template.insert((method, path, folder(resource)));
            }
        }
    }
    let in_code: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect();
    assert_eq!(
        in_template, in_code,
        "template.yaml routes differ from twostep::http::ROUTES"
    );

    // The local server routes through the same table: every template path resolves there.
    for (method, path, _) in &in_code {
        let sample = path
            .replace("{account_id}", "acc_1")
            .replace("{user_id}", "usr_1")
            .replace("{group}", "g");
        let (id, _) = match_route(method, &sample).unwrap();
        assert_eq!(ROUTES.iter().find(|r| r.id == id).unwrap().path, path);
    }

    // Every function in the table has its crate, and its main serves under that name.
    for function in in_code.iter().map(|(_, _, f)| f).collect::<BTreeSet<_>>() {
        let main =
            std::fs::read_to_string(root().join(format!("functions/{function}/src/main.rs")))
                .unwrap_or_else(|_| panic!("functions/{function} is missing"));
        assert!(
            main.contains(&format!("run_http(\"{function}\")")),
            "{function} main"
        );
    }
}

#[test]
fn every_function_is_a_rust_al2023_function_of_this_workspace() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    let arch = globals["Architectures"].as_sequence().unwrap();
    assert_eq!(untag(&arch[0]).as_str(), Some("Architecture"));
    let param = &t["Parameters"]["Architecture"];
    assert_eq!(param["Default"], "arm64");
    let allowed: BTreeSet<&str> = param["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allowed, BTreeSet::from(["arm64", "x86_64"]));

    let fns = functions(&t);
    let folders: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let in_template: BTreeSet<String> = fns.values().map(|r| folder(r)).collect();
    assert_eq!(
        in_template, folders,
        "one function resource per crate under functions/"
    );
    for (name, r) in &fns {
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        assert!(
            r["Properties"].get("Runtime").is_none(),
            "{name} keeps the global runtime"
        );
        let cargo =
            std::fs::read_to_string(root().join(format!("functions/{}/Cargo.toml", folder(r))))
                .unwrap();
        assert!(
            cargo.contains(&format!("name = \"twostep-{}\"", folder(r))),
            "{name} crate name"
        );
    }
}

/// An EventBridge rate expression: `rate(1 minute)`, `rate(5 minutes)`, singular only for 1.
fn valid_rate(expr: &str) -> bool {
    let Some(inner) = expr.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) else {
        return false;
    };
    let Some((n, unit)) = inner.split_once(' ') else {
        return false;
    };
    let Ok(n) = n.parse::<u32>() else {
        return false;
    };
    let units = if n == 1 {
        ["minute", "hour", "day"]
    } else {
        ["minutes", "hours", "days"]
    };
    n > 0 && units.contains(&unit)
}

#[test]
fn the_schedule_runs_enforce_logout_with_a_valid_rate() {
    assert!(valid_rate("rate(1 minute)") && valid_rate("rate(5 minutes)"));
    assert!(
        !valid_rate("rate(1 minutes)")
            && !valid_rate("rate(5 minute)")
            && !valid_rate("every 5 min")
    );
    let t = template();
    let job = functions(&t)["EnforceLogoutFunction"];
    let events = job["Properties"]["Events"].as_mapping().unwrap();
    assert_eq!(events.len(), 1);
    let event = events.values().next().unwrap();
    assert_eq!(event["Type"], "ScheduleV2");
    assert_eq!(
        untag(&event["Properties"]["ScheduleExpression"]).as_str(),
        Some("EnforceLogoutSchedule")
    );
    let default = t["Parameters"]["EnforceLogoutSchedule"]["Default"]
        .as_str()
        .unwrap();
    assert!(valid_rate(default), "{default}");
    let main =
        std::fs::read_to_string(root().join("functions/enforce-logout/src/main.rs")).unwrap();
    assert!(main.contains("run_schedule()"));
}

/// The function → IAM actions table in README ("### IAM per function").
#[test]
fn every_alarm_notifies_the_alarm_topic_when_one_is_given() {
    let t = template();
    let condition = serde_yaml::to_string(&t["Conditions"]["HasAlarmTopic"]).unwrap();
    assert!(condition.contains("AlarmTopicArn"), "{condition}");
    let alarms: Vec<(&Value, &Value)> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 2, "the job and the API have alarms");
    for (name, alarm) in alarms {
        for key in ["AlarmActions", "OKActions"] {
            let actions = &alarm["Properties"][key];
            let Value::Tagged(tagged) = actions else {
                panic!("{name:?} {key}: expected !If, got {actions:?}");
            };
            assert_eq!(tagged.tag.to_string(), "!If", "{name:?} {key}");
            let parts = untag(actions).as_sequence().unwrap();
            assert_eq!(parts[0], "HasAlarmTopic", "{name:?} {key}");
            let when = serde_yaml::to_string(&parts[1]).unwrap();
            assert!(
                when.contains("!Ref AlarmTopicArn"),
                "{name:?} {key}: {when}"
            );
        }
    }
}

fn readme_iam() -> BTreeMap<String, BTreeSet<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("### IAM per function")
        .nth(1)
        .expect("README has an IAM section");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let actions = cells[2]
                .split(',')
                .map(|a| a.trim().trim_matches('`').to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            (cells[1].trim_matches('`').to_owned(), actions)
        })
        .collect()
}

fn template_iam(t: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for r in functions(t).values() {
        let mut actions = BTreeSet::new();
        for policy in r["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                for action in statement["Action"].as_sequence().unwrap() {
                    actions.insert(action.as_str().unwrap().to_owned());
                }
            }
        }
        out.insert(folder(r), actions);
    }
    // KMS rights live in the key policy: add them to the roles it names.
    let key = &t["Resources"]["SecretsKey"]["Properties"]["KeyPolicy"]["Statement"];
    for statement in key.as_sequence().unwrap() {
        let principals = &statement["Principal"]["AWS"];
        let roles: Vec<&Value> = match principals {
            Value::Sequence(s) => s.iter().collect(),
            other => vec![other],
        };
        for role in roles {
            let Some(name) = untag(role)
                .as_str()
                .and_then(|s| s.strip_suffix("FunctionRole.Arn"))
            else {
                continue;
            };
            let resource = functions(t)
                .into_iter()
                .find(|(n, _)| n == &format!("{name}Function"))
                .unwrap()
                .1;
            out.get_mut(&folder(resource))
                .unwrap()
                .insert(statement["Action"].as_str().unwrap().to_owned());
        }
    }
    out
}

#[test]
fn readme_lists_each_functions_iam_actions_as_in_the_template() {
    let t = template();
    assert_eq!(readme_iam(), template_iam(&t));
}
