from __future__ import annotations

from tests.support.crowd import Crowd


async def test_a_task_goes_round(crowd: Crowd) -> None:
    project = await crowd.new_project()
    await crowd.submit(project["id"], 1)
    ann, ben = await crowd.new_worker("ann"), await crowd.new_worker("ben")
    for token in (ann, ben):
        lease = await crowd.next(token, project["id"])
        assert lease is not None
        reply = await crowd.answer(token, lease["assignment_id"], "cat")
        assert reply.status == 200, reply.text
    [result] = await crowd.results(project["id"])
    assert result["status"] == "completed"
    assert result["label"] == "cat"
