//! Compiles the table of `seccomp_rules.rs` into seccomp-BPF with
//! seccompiler and installs it on every thread of the runner.
//!
//! Two kinds of filter: the allow-list (anything not listed kills the
//! process) and, for rules whose action is `FailWith`, one small filter per
//! errno that fails those calls and allows everything else. The kernel runs
//! every installed filter and takes the strictest answer, so a `FailWith`
//! rule is also in the allow-list (otherwise the allow-list would kill).

use super::seccomp_rules::{Action, ArgCheck, Rule, When, RULES};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// What the filter depends on besides the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterContext {
    /// The policy lists `[[files]]`.
    pub files: bool,
    /// The policy lists `[[network]]`.
    pub network: bool,
    /// The policy sets `stdio.terminal`.
    pub terminal: bool,
    /// The runner's process id.
    pub pid: u32,
}

impl FilterContext {
    pub fn includes(&self, when: When) -> bool {
        match when {
            When::Always => true,
            When::Files => self.files,
            When::NoFiles => !self.files,
            When::Network => self.network,
            When::Terminal => self.terminal,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("the rule table names {0:?}, which is not an x86-64 syscall")]
    UnknownSyscall(&'static str),
    #[error("cannot compile the filter: {0}")]
    Compile(#[from] seccompiler::BackendError),
    #[error("cannot install the filter: {0}")]
    Install(#[source] seccompiler::Error),
}

/// The compiled filters, ready to install.
pub struct Filters {
    /// Default: kill the process; allows every selected rule.
    pub allow_list: BpfProgram,
    /// One per errno of the selected `FailWith` rules.
    pub failures: Vec<BpfProgram>,
    /// How many rules of the table are in the filter.
    pub rule_count: usize,
}

/// The rules of the table that apply in `ctx`.
pub fn selected(ctx: &FilterContext) -> impl Iterator<Item = &'static Rule> + '_ {
    RULES.iter().filter(|r| ctx.includes(r.when))
}

/// The x86-64 number of a syscall named in the table.
pub fn syscall_number(rule: &Rule) -> Result<i64, SeccompError> {
    sandbox_policy::syscall_number(rule.syscall)
        .map(i64::from)
        .ok_or(SeccompError::UnknownSyscall(rule.syscall))
}

fn dword(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SeccompError> {
    Ok(SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        op,
        value,
    )?)
}

/// Each argument check as its alternatives (one condition each).
fn alternatives(
    check: &ArgCheck,
    ctx: &FilterContext,
) -> Result<Vec<SeccompCondition>, SeccompError> {
    match *check {
        ArgCheck::OneOf { arg, values } => values
            .iter()
            .map(|&(_, v)| dword(arg, SeccompCmpOp::Eq, v))
            .collect(),
        ArgCheck::MaskedOneOf { arg, mask, values } => values
            .iter()
            .map(|&(_, v)| dword(arg, SeccompCmpOp::MaskedEq(mask.1), v))
            .collect(),
        ArgCheck::NoBitOf { arg, mask } => Ok(vec![dword(arg, SeccompCmpOp::MaskedEq(mask.1), 0)?]),
        ArgCheck::OwnPid { arg } => Ok(vec![dword(arg, SeccompCmpOp::Eq, u64::from(ctx.pid))?]),
    }
}

/// A rule's checks as seccompiler rules (any of them matches); None when
/// the rule has no check and matches every call.
fn conditions(rule: &Rule, ctx: &FilterContext) -> Result<Option<Vec<SeccompRule>>, SeccompError> {
    if rule.args.is_empty() {
        return Ok(None);
    }
    let mut combos: Vec<Vec<SeccompCondition>> = vec![Vec::new()];
    for check in rule.args {
        let alts = alternatives(check, ctx)?;
        combos = combos
            .iter()
            .flat_map(|prefix| {
                alts.iter().map(move |alt| {
                    let mut c = prefix.clone();
                    c.push(alt.clone());
                    c
                })
            })
            .collect();
    }
    let rules = combos
        .into_iter()
        .map(SeccompRule::new)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(rules))
}

/// Per syscall number: None = every call, Some(rules) = calls matching one.
type Chains = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add(chains: &mut Chains, nr: i64, conds: Option<Vec<SeccompRule>>) {
    match (chains.get_mut(&nr), conds) {
        (None, c) => {
            chains.insert(nr, c);
        }
        (Some(slot), None) => *slot = None,
        (Some(Some(existing)), Some(mut more)) => existing.append(&mut more),
        (Some(None), Some(_)) => {}
    }
}

fn compile(
    chains: Chains,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SeccompError> {
    let rules = chains
        .into_iter()
        .map(|(nr, c)| (nr, c.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)?;
    Ok(filter.try_into()?)
}

/// Compiles the filters for `ctx`.
pub fn build(ctx: &FilterContext) -> Result<Filters, SeccompError> {
    build_from(selected(ctx), ctx)
}

/// Compiles the filters for the given rules.
pub fn build_from<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    ctx: &FilterContext,
) -> Result<Filters, SeccompError> {
    let mut allow = Chains::new();
    let mut failing: BTreeMap<u64, Chains> = BTreeMap::new();
    let mut rule_count = 0;
    for rule in rules {
        let nr = syscall_number(rule)?;
        let conds = conditions(rule, ctx)?;
        if let Action::FailWith((_, errno)) = rule.action {
            add(failing.entry(errno).or_default(), nr, conds.clone());
        }
        add(&mut allow, nr, conds);
        rule_count += 1;
    }
    let allow_list = compile(allow, SeccompAction::KillProcess, SeccompAction::Allow)?;
    let failures = failing
        .into_iter()
        .map(|(errno, chains)| {
            compile(
                chains,
                SeccompAction::Allow,
                SeccompAction::Errno(errno as u32),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Filters {
        allow_list,
        failures,
        rule_count,
    })
}

/// The filters for `ctx` with the door of `seccomp_door.rs` open: a
/// worker that locks down before its request takes it through the door.
pub fn build_with_door(ctx: &FilterContext) -> Result<Filters, SeccompError> {
    build_from(selected(ctx).chain(super::seccomp_door::DOOR_RULES), ctx)
}

/// The filter that shuts the door: it kills every call the door's rules
/// let through and allows everything else (which the allow-list then
/// judges as for a cold run).
pub fn door_shut(ctx: &FilterContext) -> Result<BpfProgram, SeccompError> {
    let mut chains = Chains::new();
    for rule in super::seccomp_door::DOOR_RULES {
        add(&mut chains, syscall_number(rule)?, conditions(rule, ctx)?);
    }
    compile(chains, SeccompAction::Allow, SeccompAction::KillProcess)
}

/// Installs one more filter on every thread (TSYNC): the door's shutter.
pub fn install_one(filter: &BpfProgram) -> Result<(), SeccompError> {
    seccompiler::apply_filter_all_threads(filter).map_err(SeccompError::Install)
}

/// Installs the filters on every thread (TSYNC). The errno filters go
/// first: once the allow-list is in place, `seccomp` itself is refused.
pub fn install(filters: &Filters) -> Result<(), SeccompError> {
    for f in filters
        .failures
        .iter()
        .chain(std::iter::once(&filters.allow_list))
    {
        seccompiler::apply_filter_all_threads(f).map_err(SeccompError::Install)?;
    }
    Ok(())
}
