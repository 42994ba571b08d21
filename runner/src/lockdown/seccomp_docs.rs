//! The seccomp rule table as Markdown, for docs/threat-model.md (a test
//! checks that the document holds exactly this text between its markers).

use super::seccomp_rules::{Action, ArgCheck, Named, Rule, When, RULES};

/// The marker lines around the generated table in docs/threat-model.md.
pub const BEGIN_MARKER: &str =
    "<!-- seccomp-rules: generated from runner/src/lockdown/seccomp_rules.rs; do not edit -->";
pub const END_MARKER: &str = "<!-- end of seccomp-rules -->";

fn names(values: &[Named]) -> String {
    values.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
}

fn check(c: &ArgCheck) -> String {
    match c {
        ArgCheck::OneOf { arg, values } if values.len() == 1 => {
            format!("arg{arg} = {}", names(values))
        }
        ArgCheck::OneOf { arg, values } => format!("arg{arg} ∈ {{{}}}", names(values)),
        ArgCheck::MaskedOneOf { arg, mask, values } => {
            format!("(arg{arg} & {}) ∈ {{{}}}", mask.0, names(values))
        }
        ArgCheck::NoBitOf { arg, mask } => format!("arg{arg} without {}", mask.0),
        ArgCheck::OwnPid { arg } => format!("arg{arg} = the runner's pid"),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn row(r: &Rule) -> String {
    let when = match r.when {
        When::Always => "always",
        When::Files => "[[files]]",
        When::NoFiles => "no [[files]]",
        When::Network => "[[network]]",
        When::Terminal => "stdio.terminal",
    };
    let args = if r.args.is_empty() {
        "any".to_string()
    } else {
        r.args.iter().map(check).collect::<Vec<_>>().join("; ")
    };
    let action = match r.action {
        Action::Allow => "allow".to_string(),
        Action::FailWith((name, _)) => format!("fail with {name}"),
    };
    format!(
        "| `{}` | {} | {} | {} | {} |",
        r.syscall,
        cell(when),
        cell(&args),
        action,
        cell(r.reason)
    )
}

/// The table, one row per rule, markers included.
pub fn markdown() -> String {
    let count = |w: When| RULES.iter().filter(|r| r.when == w).count();
    let mut out = vec![
        BEGIN_MARKER.to_string(),
        String::new(),
        format!(
            "{} rules: {} always in the filter, {} more with `[[files]]`, {} more without, {} more with `[[network]]`, {} more with `stdio.terminal`.",
            RULES.len(),
            count(When::Always),
            count(When::Files),
            count(When::NoFiles),
            count(When::Network),
            count(When::Terminal)
        ),
        String::new(),
        "| syscall | in the filter | arguments | action | who needs it, and why |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ];
    out.extend(RULES.iter().map(row));
    let door = super::seccomp_door::DOOR_RULES;
    out.extend([
        String::new(),
        format!(
            "A worker of `runner serve --policy` locks down before its request comes, with {} more rules, its door for taking the request (lockdown/seccomp_door.rs). One more filter kills those calls again once the request is in, before its program is read; the guest's first instruction runs under the table above alone.",
            door.len()
        ),
        String::new(),
        "| syscall | in the filter | arguments | action | who needs it, and why |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ]);
    out.extend(door.iter().map(row));
    out.push(String::new());
    out.push(END_MARKER.to_string());
    out.join("\n")
}
