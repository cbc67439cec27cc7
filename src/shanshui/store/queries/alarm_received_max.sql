-- The newest received time of any reading (the rules job's first watermark).
select max(received) from observation
