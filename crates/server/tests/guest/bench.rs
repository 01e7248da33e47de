//! The guest side of `cargo bench --bench guest_memory`: memqosd's
//! migration of a bundle between the two NUMA nodes against `move_pages` of
//! the same pages by bare code, alternating, in the same guest. Prints one
//! `corridor-guest-bench:` line per measurement; the host prints them.

use std::time::{Duration, Instant};

use corridor_client::Client;
use corridor_model::ffm::LatencyClass;
use corridor_model::meta::{Operation, OperationState};
use futures::StreamExt;

use super::agent::{LISTEN, PAGE, place, start_corridord, wait_ready};

/// The bundle moved back and forth (64 MiB: long enough under TCG that the
/// API's own cost is visible beside the copy, small enough for 1 GiB nodes).
const BYTES: u64 = 64 << 20;
const ROUNDS: usize = 3;
const MPOL_MF_MOVE_ALL: libc::c_int = 1 << 2;

fn line(text: impl std::fmt::Display) {
    println!("corridor-guest-bench: {text}");
}

/// Every page of `[ptr, ptr + len)` to `node` in one `move_pages` call, as
/// a bare program would; the time it took.
fn bare_move(ptr: *const u8, len: usize, node: i32) -> Duration {
    let pages: Vec<*const libc::c_void> = (0..len / PAGE)
        // SAFETY: each address is a page inside the caller's live mapping.
        .map(|i| unsafe { ptr.add(i * PAGE) }.cast())
        .collect();
    let nodes = vec![node; pages.len()];
    let mut status = vec![0i32; pages.len()];
    let started = Instant::now();
    // SAFETY: pid 0 is this process; pages, nodes and status hold
    // `pages.len()` elements each and outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as libc::c_long,
            pages.len() as libc::c_ulong,
            pages.as_ptr(),
            nodes.as_ptr(),
            status.as_mut_ptr(),
            MPOL_MF_MOVE_ALL,
        )
    };
    let elapsed = started.elapsed();
    assert!(rc >= 0, "move_pages: {}", std::io::Error::last_os_error());
    elapsed
}

/// memqosd's migration to `class`: wall time from the PATCH to the
/// operation's success, and the kernel part it measured itself. The
/// operation is followed on a watch, not polled, so the measuring side
/// takes no CPU from the emulated machine while the pages move.
async fn memqosd_move(client: &Client, id: &str, class: LatencyClass) -> (Duration, f64) {
    let mut events = client
        .watch::<Operation>("/v1/operations", None)
        .await
        .unwrap();
    let started = Instant::now();
    let operation = client.ffm_migrate(id, class).await.unwrap();
    while let Some(event) = events.next().await {
        let now = event.unwrap().object;
        if now.id != operation.id {
            continue;
        }
        match now.state {
            OperationState::Succeeded => {
                let wall = started.elapsed();
                let kernel = now.result.as_ref().unwrap()["measured_seconds"]
                    .as_f64()
                    .unwrap();
                return (wall, kernel);
            }
            OperationState::Failed => panic!("migration failed: {now:?}"),
            _ => {}
        }
    }
    panic!("the operations watch ended before the migration did");
}

pub fn run() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut daemon = start_corridord();
        let client = Client::new(&format!("http://{LISTEN}")).unwrap();
        wait_ready(&mut daemon, &client).await;
        let (bundle, map) = place(&client, LatencyClass::T2, BYTES).await;
        let (ptr, len) = (map.as_slice().as_ptr(), map.len());
        let mb = BYTES as f64 / 1e6;
        for round in 0..ROUNDS {
            // Pages on node 1. Bare: to node 0 and back; memqosd: the same.
            let bare_there = bare_move(ptr, len, 0);
            let bare_back = bare_move(ptr, len, 1);
            let (wall_there, kernel_there) =
                memqosd_move(&client, &bundle.id, LatencyClass::T1).await;
            let (wall_back, kernel_back) =
                memqosd_move(&client, &bundle.id, LatencyClass::T2).await;
            for (direction, bare, wall, kernel) in [
                ("node1->node0", bare_there, wall_there, kernel_there),
                ("node0->node1", bare_back, wall_back, kernel_back),
            ] {
                let bare = bare.as_secs_f64();
                line(format!(
                    "round {round} {direction} {mb:.0} MB: bare move_pages {:.1} MB/s ({:.3} s); \
                     memqosd migration {:.1} MB/s in the kernel ({kernel:.3} s, {:.2}x bare), \
                     {:.1} MB/s PATCH to done ({:.3} s, {:.2}x bare)",
                    mb / bare,
                    bare,
                    mb / kernel,
                    bare / kernel,
                    mb / wall.as_secs_f64(),
                    wall.as_secs_f64(),
                    bare / wall.as_secs_f64(),
                ));
            }
        }
        line("done");
    });
}
