//! `drill demo --load-into URL` (hidden, for tests and trials): fill an empty database with the
//! demo's learning platform, plus a little QA test data — ten test students with enrollments
//! and homework — the rows a "clean up old test data" change is meant to delete.

use drill_engine::pg::{Database, PgError};

use super::data;
use crate::output::{CliError, CliResult, Globals};

/// The QA test rows: students `qa-N@test.invalid`, two enrollments each, three submissions per
/// enrollment (10 + 20 + 60 rows). Identity columns continue after the generated rows.
pub const TEST_DATA: &str = "
INSERT INTO students (email, display_name, profile, created_at)
SELECT 'qa-' || i || '@test.invalid', 'QA test student ' || i, '{\"test\": true}',
       now() - interval '200 days'
FROM generate_series(1, 10) AS i;
INSERT INTO enrollments (student_id, course_id, status, enrolled_at)
SELECT s.id, c.id, 'active', now() - interval '200 days'
FROM students s, (VALUES (1), (2)) AS c(id)
WHERE s.email LIKE '%@test.invalid';
INSERT INTO homework_submissions (enrollment_id, grade, answers, submitted_at)
SELECT e.id, 50, '{\"test\": true}', now() - interval '199 days'
FROM enrollments e JOIN students s ON s.id = e.student_id, generate_series(1, 3)
WHERE s.email LIKE '%@test.invalid';
ANALYZE;";

pub async fn run(url: &str, rows: u64, globals: &Globals) -> CliResult {
    let db = Database::from_url(url).map_err(|e| {
        CliError::from(e).with_hint("--load-into takes a postgres:// URL of an empty database")
    })?;
    let generated = data::generate(&db, rows).await?;
    let client = db.connect_as("restore-drill demo").await?;
    client
        .batch_execute(TEST_DATA)
        .await
        .map_err(PgError::query("adding the QA test data"))?;
    let result = serde_json::json!({
        "database": db.describe(),
        "sizes": generated.sizes,
        "test_students": 10,
        "test_enrollments": 20,
        "test_submissions": 60,
    });
    if globals.json {
        globals.print_json(&result);
    } else {
        println!(
            "loaded {} with {} rows and the QA test data",
            db.describe(),
            generated.sizes.total()
        );
    }
    Ok(drill_core::ExitCode::Ok)
}
