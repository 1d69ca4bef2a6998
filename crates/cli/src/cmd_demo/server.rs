//! The demo's PostgreSQL server: the one the user gave, or a throwaway cluster of our own, and
//! the cleanup that leaves neither a cluster nor a database behind.

use drill_core::ErrorKind;
use drill_engine::drill;
use drill_engine::localpg::{ClusterOptions, LocalCluster};
use drill_engine::pg::Database;
use serde::Serialize;

use super::data;
use crate::output::{drill_error, CliError};
use crate::progress::Bars;

/// The throwaway cluster, as the summary reports it.
#[derive(Debug, Serialize)]
pub(super) struct ClusterInfo {
    pub(super) port: u16,
    pub(super) data_dir: String,
    pub(super) stopped: bool,
}

/// Where the demo runs: an admin connection to the server, and the cluster if we started it.
pub(super) struct Server {
    pub(super) admin: Database,
    cluster: Option<LocalCluster>,
}

/// What cleanup found and did.
pub(super) struct Cleaned {
    /// Temp databases of the demo's drills still on the server (a guard refused a drop).
    pub(super) leftovers: Vec<String>,
    pub(super) cluster: Option<ClusterInfo>,
}

impl Server {
    /// `given`, or a throwaway cluster started for the demo.
    pub(super) async fn start(given: Option<Database>, bars: &Bars) -> Result<Server, CliError> {
        if let Some(admin) = given {
            return Ok(Server {
                admin,
                cluster: None,
            });
        }
        bars.say("starting a throwaway PostgreSQL cluster …");
        let options = ClusterOptions {
            parent: None,
            settings: vec![
                // Throwaway and rebuilt every run: durability settings only cost time, and
                // autovacuum would compete with the drill for the two cores.
                ("autovacuum".into(), "off".into()),
                ("max_wal_size".into(), "4GB".into()),
                ("checkpoint_timeout".into(), "30min".into()),
                ("shared_buffers".into(), "256MB".into()),
                ("max_connections".into(), "40".into()),
            ],
        };
        let c = tokio::task::spawn_blocking(move || LocalCluster::start(options))
            .await
            .map_err(|e| {
                CliError::new(ErrorKind::CouldNotRun, format!("starting PostgreSQL: {e}"))
            })??;
        bars.say(&format!(
            "PostgreSQL running on 127.0.0.1:{} (data in {})",
            c.port(),
            c.data_dir().display()
        ));
        let admin = Database::from_url(&c.url("postgres")).map_err(|e| drill_error(e.into()))?;
        Ok(Server {
            admin,
            cluster: Some(c),
        })
    }

    /// Cleanup, whatever happened: finds the drills' leftover temp databases, drops the demo
    /// database on a server the user gave, stops (and removes) our own cluster.
    pub(super) async fn clean_up(self, ids: &[String], database: &str, bars: &Bars) -> Cleaned {
        let mut leftovers = Vec::new();
        if let Ok(client) = self.admin.connect_as("restore-drill demo cleanup").await {
            leftovers = drill::temp_databases_of(&client, ids)
                .await
                .unwrap_or_default();
            if self.cluster.is_none() {
                if let Err(e) = data::drop_database(&client, database).await {
                    bars.say(&format!("warning: could not drop the demo database: {e}"));
                }
            }
        }
        let cluster = match self.cluster {
            Some(c) => Some(stop(c, bars).await),
            None => None,
        };
        Cleaned { leftovers, cluster }
    }
}

async fn stop(mut c: LocalCluster, bars: &Bars) -> ClusterInfo {
    let port = c.port();
    let data_dir = c.data_dir().display().to_string();
    let stopped = tokio::task::spawn_blocking(move || {
        let r = c.stop();
        drop(c); // removes the data directory
        r
    })
    .await;
    let stopped = matches!(stopped, Ok(Ok(())));
    if !stopped {
        bars.say("warning: the throwaway PostgreSQL did not stop cleanly; it was killed");
    }
    ClusterInfo {
        port,
        data_dir,
        stopped,
    }
}
