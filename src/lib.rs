//! The runtime `ctr` grows here (see DESIGN.md); the lessons live in `steps/`.
