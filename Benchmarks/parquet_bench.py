#!/usr/bin/env python3
"""The Parquet side of the segment benchmark: the same CSV, written with pyarrow as
Parquet (zstd and lz4) and read back, single-threaded. Prints one JSON object."""
import argparse, json, os, statistics, time
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq

p = argparse.ArgumentParser()
p.add_argument("--csv", required=True)
p.add_argument("--out-dir", required=True)
p.add_argument("--runs", type=int, default=3)
a = p.parse_args()

pa.set_cpu_count(1)
pa.set_io_thread_count(1)
ts = pa.timestamp("ms", tz="UTC")
types = {"id": pa.int64(), "created_at": ts, "updated_at": ts, "first_response_at": ts, "solved_at": ts,
         "closed_at": ts, "status": pa.string(), "priority": pa.string(), "channel": pa.string(),
         "queue": pa.string(), "agent_id": pa.int64(), "customer_id": pa.int64(), "subject": pa.string(),
         "tags": pa.string(), "satisfaction": pa.int8(), "reopen_count": pa.int32(), "version": pa.int64()}
table = pacsv.read_csv(a.csv, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
                       read_options=pacsv.ReadOptions(use_threads=False))
out = {"rows": table.num_rows, "csv_bytes": os.path.getsize(a.csv)}
os.makedirs(a.out_dir, exist_ok=True)
for codec in ("zstd", "lz4"):
    path = os.path.join(a.out_dir, f"tickets-{codec}.parquet")
    writes, scans = [], []
    for _ in range(a.runs):
        t = time.perf_counter()
        pq.write_table(table, path, compression=codec)
        writes.append(time.perf_counter() - t)
    for _ in range(a.runs):
        t = time.perf_counter()
        back = pq.read_table(path, use_threads=False)
        scans.append(time.perf_counter() - t)
        assert back.num_rows == table.num_rows
        del back
    out[codec] = {"bytes": os.path.getsize(path), "write_s": statistics.median(writes), "scan_s": statistics.median(scans)}
print(json.dumps(out))
