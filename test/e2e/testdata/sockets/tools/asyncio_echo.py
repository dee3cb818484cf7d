# An asyncio TCP echo server and its client in one event loop (epoll,
# non-blocking sockets, loopback TCP).
import asyncio

async def handle(reader, writer):
    while True:
        data = await reader.readline()
        if not data:
            break
        writer.write(data.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(5):
            writer.write(f"line {i}\n".encode())
            await writer.drain()
            print((await reader.readline()).decode().strip())
        writer.close()
        await writer.wait_closed()
    print("done")

asyncio.run(main())
