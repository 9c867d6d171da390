//! Spawning server processes that die with the test binary.
//!
//! Statics are never dropped, so nothing in the shared cluster can stop its
//! servers when the test binary exits. Instead every server is spawned with
//! `PR_SET_PDEATHSIG`: the kernel signals the child when its parent goes away.
//! The kernel's notion of "parent" is the *thread* that forked, and the test
//! harness runs each test on a thread that exits when the test ends, so all
//! spawning goes through one dedicated thread that lives as long as the
//! process (it blocks on a channel whose sender sits in a static).

use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

/// A command to spawn and where to send the outcome.
type Request = (Command, mpsc::Sender<io::Result<Child>>);

/// The spawner thread's inbox. Never dropped, so the thread never exits.
static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();

/// Spawns `command` from the long-lived spawner thread, so the child is
/// signalled with `death_signal` when the test binary exits, and not before.
pub(crate) fn spawn_tied_to_process(
    mut command: Command,
    death_signal: libc::c_int,
) -> io::Result<Child> {
    die_with_parent(&mut command, death_signal);
    let spawner = SPAWNER.get_or_init(|| {
        let (sender, inbox) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("test-support-spawner".into())
            .spawn(move || {
                for (mut command, reply) in inbox {
                    // The requester may have panicked meanwhile; the
                    // child then dies with this process anyway.
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("the spawner thread starts");
        sender
    });
    let (reply, outcome) = mpsc::channel();
    spawner
        .send((command, reply))
        .expect("the spawner thread never exits");
    outcome.recv().expect("the spawner thread always replies")
}

/// Asks the kernel to send `signal` to the child when its parent thread dies.
///
/// The hook runs in the forked child after std has switched uid/gid (a
/// credential change clears the death signal, so it must come after), right
/// before `exec`. If the parent already died between `fork` and `prctl`, the
/// signal would never come, hence the `getppid` check.
#[expect(
    unsafe_code,
    reason = "prctl(PR_SET_PDEATHSIG) has no safe wrapper and must run between fork and exec"
)]
fn die_with_parent(command: &mut Command, signal: libc::c_int) {
    let parent = libc::pid_t::try_from(std::process::id()).expect("pids fit in pid_t");
    // SAFETY: the closure only makes two async-signal-safe syscalls (prctl,
    // getppid), allocates nothing and touches no lock, as `pre_exec` requires
    // in a child forked from a multi-threaded process.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                // No allocation here (see SAFETY): a bare errno is enough, the
                // test binary that would read it is gone.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}
