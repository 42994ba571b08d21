use super::*;
use sandbox_policy::syscall_names::SYSCALLS;

#[test]
fn every_linux_syscall_has_exactly_one_entry_in_number_order() {
    let mut previous = None;
    for e in TABLE {
        let nr = sandbox_policy::syscall_number(e.name)
            .unwrap_or_else(|| panic!("{} is no x86-64 syscall", e.name));
        assert!(
            previous < Some(nr),
            "{} ({nr}) is out of number order",
            e.name
        );
        previous = Some(nr);
    }
    for &(nr, name) in SYSCALLS {
        let e = lookup(u64::from(nr)).unwrap_or_else(|| panic!("{name} ({nr}) has no entry"));
        assert_eq!(e.name, name);
    }
    assert_eq!(TABLE.len(), SYSCALLS.len());
}

#[test]
fn every_entry_says_why() {
    for e in TABLE {
        let text = match e.status {
            Status::Emulated { notes, module, .. } => {
                assert!(!module.is_empty());
                notes
            }
            Status::Refused { why, .. } | Status::Unsupported { why } => why,
        };
        assert!(!text.trim().is_empty(), "{} has no notes", e.name);
    }
}

#[test]
fn numbers_without_a_syscall_are_not_found() {
    for nr in [335, 400, 423, 463, 999, u64::MAX] {
        assert!(lookup(nr).is_none(), "{nr}");
    }
    assert_eq!(name_of(999), "nr_999");
    assert_eq!(name_of(57), "fork");
    assert!(handler(0).is_some(), "read is emulated");
    assert!(handler(57).is_some(), "fork is emulated");
    assert!(handler(334).is_none(), "rseq is refused");
}

#[test]
fn refusals_and_errnos_are_named() {
    let Some(Entry {
        status: Status::Refused { errno, report, .. },
        ..
    }) = lookup(334)
    else {
        panic!("rseq is refused");
    };
    assert_eq!(errno_name(*errno), "ENOSYS");
    assert!(!*report, "rseq is refused silently");
}

const BEGIN: &str = "<!-- syscall contract: generated from runner/src/syscalls/table.rs -->\n";
const END: &str = "<!-- end of the syscall contract -->\n";

/// `docs/compatibility.md` holds `doc_table()` between the markers. Run with
/// `THINVISOR_BLESS=1` to rewrite it after changing the table.
#[test]
fn compatibility_doc_holds_the_current_contract() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    let (before, rest) = doc.split_once(BEGIN).expect("the begin marker");
    let (current, after) = rest.split_once(END).expect("the end marker");
    let wanted = doc_table();
    if current != wanted {
        if std::env::var_os("THINVISOR_BLESS").is_some() {
            std::fs::write(path, format!("{before}{BEGIN}{wanted}{END}{after}"))
                .expect("rewrite docs/compatibility.md");
        } else {
            panic!(
                "docs/compatibility.md's syscall table is stale: rerun with THINVISOR_BLESS=1 \
                 (cargo test -p runner --lib table) and commit the result"
            );
        }
    }
}
