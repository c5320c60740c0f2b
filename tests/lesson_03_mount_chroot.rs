//! Lesson 3, from the outside, with the properties of the lessons before it.
mod support;

use support::checks::Lesson;

fn lesson() -> Lesson {
    Lesson::get(3)
}

recheck!(
    hostname_is_isolated,
    exit_status_is_the_containers,
    signals_reach_the_container,
    sigterm_without_a_handler,
    signals_start_as_default,
    command_is_pid_1,
    command_errors,
    refuses_non_root,
    proc_lists_only_the_container,
    host_paths_are_invisible,
    host_mounts_are_unchanged,
    rootfs_errors,
    host_descriptors_do_not_reach_the_container,
);
