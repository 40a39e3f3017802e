"""The server (``tenantapp.server``) relies on waitress behaviours that waitress does not
document; setup.py pins the versions these tests cover, and these fail when one changes."""

import inspect

from waitress import channel, parser, server, task


def test_the_dispatcher_takes_tasks_from_its_queue_attribute_and_services_them_in_that_thread():
    source = inspect.getsource(task.ThreadedTaskDispatcher.handler_thread)
    assert "while not self.queue and" in source  # truth: "a task can be taken now"
    assert "task = self.queue.popleft()" in source
    assert source.index("task = self.queue.popleft()") < source.index("task.service()")
    assert "self.queue.append(task)" in inspect.getsource(task.ThreadedTaskDispatcher.add_task)
    # idle threads are those waiting: len(threads) - stop_count - active_count
    waiting = source.index("self.active_count -= 1")
    assert waiting < source.index("self.queue_cv.wait()") < source.index("self.active_count += 1")


def test_a_channel_is_the_task_queued_and_its_service_serves_requests_0():
    source = inspect.getsource(channel.HTTPChannel.service)
    assert "request = self.requests[0]" in source
    assert "self.task_class(self, request)" in source
    assert "self.error_task_class(self, request)" in source
    assert "self.server.add_task(self)" in inspect.getsource(channel.HTTPChannel.received)


def test_servers_take_a_dispatcher_and_a_channel_class():
    assert "_dispatcher" in inspect.signature(server.create_server).parameters
    assert server.BaseWSGIServer.channel_class is channel.HTTPChannel
    assert "self.task_dispatcher = dispatcher" in inspect.getsource(server.BaseWSGIServer)


def test_a_task_builds_its_environ_once_and_the_parser_keeps_an_absolute_targets_authority():
    source = inspect.getsource(task.WSGITask.get_environment)
    assert "if environ is not None:" in source and "self.environ = environ" in source
    assert "self.proxy_netloc" in inspect.getsource(parser.HTTPRequestParser.parse_header)
