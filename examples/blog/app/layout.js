import Link from 'next/link'

export const metadata = {
  title: 'Shared ISR Blog & Shop',
  description: 'A self-hosted Next.js app whose instances share one ISR cache',
}

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto', padding: '0 1rem' }}>
        <nav style={{ display: 'flex', gap: '1rem', marginBottom: '1.5rem' }}>
          <Link href="/" prefetch={false}>
            Home
          </Link>
          <Link href="/news" prefetch={false}>
            News
          </Link>
          <Link href="/products/mug" prefetch={false}>
            Mug (app)
          </Link>
          <Link href="/shop/mug" prefetch={false}>
            Mug (pages)
          </Link>
          <Link href="/about" prefetch={false}>
            About
          </Link>
          <Link href="/live" prefetch={false}>
            Live
          </Link>
        </nav>
        {children}
      </body>
    </html>
  )
}
