//! Operating the deployed drill (`drill aws run|status|history`): the pure part.
//!
//! Progress lines are derived from a Step Functions execution history (state entered/exited
//! events of the Map iterations carry the drill's `source_id` in their input and output); a
//! source's status is summarised from its run report; the exit code follows the CLI's codes.
//!
//! [`progress`]: history → lines; [`status`]: per-source status and exit code; [`stack`]: where
//! the deployment is and source-id checks.

pub mod progress;
pub mod stack;
pub mod status;

pub use progress::{
    execution_end, planned_sources, progress, readable_cause, step_of_state, EventKind,
    HistoryEvent, ProgressLine, StepOutcome,
};
pub use stack::{check_source_id, StackRef};
pub use status::{exit_code, kind_of_error, SourceStatus, TempState};
