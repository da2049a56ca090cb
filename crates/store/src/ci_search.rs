//! What the full-text index of configuration items needs beyond `cmdb`: the department names
//! (indexed with the items they own), the items of an organization or department (re-indexed
//! when its name changes), and the scope check of a search's hits in SQL.

use uuid::Uuid;

use crate::cmdb::CiFilter;
use crate::{on_ex, Ex, Result};

/// (id, name) of every department.
pub async fn department_names<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<(Uuid, String)>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, (Uuid, String)>(
        "SELECT id, name FROM departments"
    )
    .fetch_all(c)
    .await)?)
}

/// The ids of an organization's items.
pub async fn ci_ids_of_org<'a>(ex: impl Into<Ex<'a>>, org: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM cis WHERE org_id = $1 ORDER BY id"
    )
    .bind(org)
    .fetch_all(c)
    .await)?)
}

/// The ids of a department's items.
pub async fn ci_ids_of_department<'a>(ex: impl Into<Ex<'a>>, dept: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM cis WHERE department_id = $1 ORDER BY id"
    )
    .bind(dept)
    .fetch_all(c)
    .await)?)
}

/// Ids per query of [`filter_ids`].
const ID_SLOTS: usize = 50;

macro_rules! id_slots {
    () => {
        "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, $51, $52, $53"
    };
}

/// The ids among `ids` of items that pass the filter's organization, class and status (not
/// `q`, cursor or limit), in no particular order: the full-text search finds the ids, this
/// enforces the caller's scope again in SQL. One query per 50 ids.
pub async fn filter_ids(db: &crate::Db, f: &CiFilter, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let sql = concat!(
        "SELECT id FROM cis WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR class_id = $2) \
         AND ($3 IS NULL OR status = $3) AND id IN (",
        id_slots!(),
        ")"
    );
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ID_SLOTS) {
        let rows = crate::on_db!(db, |p| {
            let mut q = sqlx::query_scalar::<_, Uuid>(sql)
                .bind(f.org)
                .bind(f.class_id)
                .bind(&f.status);
            for i in 0..ID_SLOTS {
                q = q.bind(chunk.get(i).copied());
            }
            q.fetch_all(p).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}
