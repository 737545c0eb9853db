from tests.workflows.test_order_workflow import *  # noqa
from tests.workflows.test_order_workflow import started, OrderDoubles, fail_times, retryable, final_status
import datetime as dt

async def test_probe(ts_env, task_queue):
    doubles = OrderDoubles(failures={"process_payment": fail_times(2, lambda: retryable("GATEWAY_TIMEOUT", "slow"))})
    async with started(ts_env, doubles, task_queue) as handle:
        status = await final_status(handle)
        async for ev in handle.fetch_history_events():
            if ev.HasField("activity_task_scheduled_event_attributes"):
                print(ev.event_time.ToDatetime(), ev.activity_task_scheduled_event_attributes.retry_policy)
            if ev.HasField("activity_task_started_event_attributes"):
                print("started", ev.event_time.ToDatetime(), ev.activity_task_started_event_attributes.attempt)
    for c in doubles.calls: print(c)
    print(await ts_env.get_current_time())
