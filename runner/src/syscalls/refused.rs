//! What a sandboxed program cannot do: create threads or processes, or
//! replace itself. The guest is one single-threaded process in its own VM.
//! Each refusal is reported once on stderr and returns ENOSYS: libc then
//! reports "Function not implemented" (pthread_create, fork, posix_spawn,
//! system), which names the missing feature better than EAGAIN, which
//! invites retrying. wait4/waitid find no children (ECHILD).

use super::errno::*;
use super::{table, Args, Ctx, Outcome};

fn refuse(ctx: &mut Ctx<'_>, nr: u64, what: &str) -> Outcome {
    if ctx.state.reported_unknown.insert(nr) && ctx.state.report_unsupported {
        eprintln!(
            "runner: {} ({nr}) refused: {what}; the sandbox runs one single-threaded process; returned ENOSYS",
            table::name_of(nr)
        );
    }
    Outcome::err(ENOSYS)
}

/// clone (threads and fork-like clones).
pub fn clone(ctx: &mut Ctx<'_>, _: &Args) -> Outcome {
    refuse(ctx, 56, "no threads or child processes")
}

pub fn clone3(ctx: &mut Ctx<'_>, _: &Args) -> Outcome {
    refuse(ctx, 435, "no threads or child processes")
}

pub fn fork(ctx: &mut Ctx<'_>, _: &Args) -> Outcome {
    refuse(ctx, 57, "no child processes")
}

pub fn vfork(ctx: &mut Ctx<'_>, _: &Args) -> Outcome {
    refuse(ctx, 58, "no child processes")
}

pub fn execve(ctx: &mut Ctx<'_>, _: &Args) -> Outcome {
    refuse(ctx, 59, "a program cannot run another one")
}

pub fn execveat(ctx: &mut Ctx<'_>, _: &Args) -> Outcome {
    refuse(ctx, 322, "a program cannot run another one")
}

/// wait4/waitid: there are never children.
pub fn wait(_: &mut Ctx<'_>, _: &Args) -> Outcome {
    Outcome::err(ECHILD)
}
